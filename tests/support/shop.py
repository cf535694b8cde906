"""A small shop project several tests build on: orders and customers from CSV, and a cleaning transform."""

SHOP_SOURCES = {
    "data/orders.csv": "order_id,customer_id,amount\n1,10,25\n2,11,-3\n3,10,7\n",
    "data/customers.csv": "customer_id,name\n10,Ana\n11,Budi\n",
    "seeknal/sources/orders.yml": "kind: source\nname: orders\nsource: csv\ntable: data/orders.csv\n",
    "seeknal/sources/customers.yml": "kind: source\nname: customers\nsource: csv\ntable: data/customers.csv\n",
}

CLEAN_ORDERS = {
    "seeknal/transforms/clean_orders.yml": """
        kind: transform
        name: clean_orders
        inputs: [{ref: source.orders}]
        transform: SELECT * FROM ref('source.orders') WHERE amount > 0
    """,
}
