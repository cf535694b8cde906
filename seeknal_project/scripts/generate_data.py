#!/usr/bin/env python3
"""Generate the sample e-commerce dataset under ``seeknal_project/data/``.

The output is fully determined by one ``random.Random(42)``: running the script again rewrites identical data,
so the generated files are committed and the pipeline can run offline right after a checkout.

Files written (all for calendar year 2025; "today" of the dataset is 2025-12-31):

    customers.csv        customers, a few with malformed or missing e-mail addresses
    products.parquet     the catalogue, with list price and unit cost
    orders.csv           order headers (status, channel, timestamp)
    order_items.parquet  order lines (quantity, unit price at order time, discount rate)
    events.jsonl         web/app events grouped in sessions; a few are anonymous (customer_id null)
    shop.db              SQLite database with a ``payments`` table

About a quarter of the customers churn: they stop ordering (and browsing) some time between March and September, so
they have no order in the last 90 days of the year. Before they leave they return more orders and browse less,
which gives a churn model something to learn.

Only the standard library and pyarrow are used.

usage: python scripts/generate_data.py [--out DIR]
"""

from __future__ import annotations

import argparse
import csv
import json
import sqlite3
from datetime import date, datetime, timedelta
from pathlib import Path
from random import Random

import pyarrow as pa
import pyarrow.parquet as pq

SEED = 42
YEAR_START = datetime(2025, 1, 1)
YEAR_END = datetime(2025, 12, 31, 23, 59, 59)
N_CUSTOMERS = 500
N_PRODUCTS = 100

FIRST_NAMES = [
    "Ada", "Bima", "Carla", "Dewi", "Elena", "Farid", "Greta", "Hugo", "Ines", "Joko", "Kira", "Lars", "Maya",
    "Nadia", "Omar", "Putri", "Quinn", "Rafael", "Sari", "Tomas", "Umar", "Vera", "Wulan", "Xavier", "Yuki",
    "Zane", "Amir", "Bella", "Chen", "Dita", "Emil", "Fiona", "Gilang", "Hana", "Ivan", "Julia", "Kevin",
    "Lina", "Marco", "Nina",
]
LAST_NAMES = [
    "Andersen", "Baker", "Costa", "Dubois", "Evans", "Fischer", "Gunawan", "Hartono", "Ivanova", "Jensen",
    "Kusuma", "Lopez", "Meyer", "Nguyen", "Okafor", "Pratama", "Quispe", "Rossi", "Santoso", "Tanaka",
    "Ueda", "Visser", "Wijaya", "Xu", "Yilmaz", "Zhang", "Moreau", "Schmidt", "Silva", "Halim",
]
EMAIL_DOMAINS = ["example.com", "mail.example.org", "shopper.example.net", "inbox.example.io"]
COUNTRIES = [("US", 22), ("ID", 18), ("GB", 12), ("DE", 11), ("SG", 9), ("FR", 8), ("NL", 7), ("AU", 7), ("CA", 6)]
SEGMENTS = [("consumer", 65), ("small_business", 25), ("enterprise", 10)]
ORDERS_PER_YEAR = {"consumer": 7.2, "small_business": 10.6, "enterprise": 14.5}
CHANNELS = [("web", 45), ("mobile_app", 40), ("marketplace", 15)]
PAYMENT_METHODS = [("card", 62), ("paypal", 20), ("apple_pay", 10), ("bank_transfer", 8)]

# category -> (price range, nouns)
CATEGORIES = {
    "electronics": ((25.0, 480.0), ["Headphones", "Speaker", "Charger", "Keyboard", "Webcam", "Monitor Arm"]),
    "home": ((8.0, 160.0), ["Lamp", "Mug Set", "Cushion", "Blanket", "Vase", "Storage Box"]),
    "apparel": ((12.0, 140.0), ["Hoodie", "T-Shirt", "Jacket", "Sneakers", "Cap", "Scarf"]),
    "beauty": ((5.0, 70.0), ["Serum", "Lip Balm", "Face Mask", "Shampoo", "Hand Cream", "Perfume"]),
    "sports": ((10.0, 220.0), ["Yoga Mat", "Water Bottle", "Dumbbell", "Running Belt", "Tennis Racket"]),
    "books": ((6.0, 45.0), ["Cookbook", "Novel", "Travel Guide", "Notebook", "Art Book"]),
}
ADJECTIVES = [
    "Classic", "Urban", "Compact", "Premium", "Eco", "Nordic", "Pro", "Everyday", "Deluxe", "Lite", "Bold",
    "Soft", "Smart", "Retro", "Travel",
]

# Price promotions: (first day, last day, extra discount rates to draw from)
PROMOTIONS = [
    (date(2025, 7, 7), date(2025, 7, 13), [0.10, 0.15, 0.20]),
    (date(2025, 11, 24), date(2025, 12, 1), [0.15, 0.20, 0.25, 0.30]),
]


def weighted(rng: Random, choices: list[tuple[str, int]]) -> str:
    values, weights = zip(*choices)
    return rng.choices(values, weights=weights)[0]


def random_ts(rng: Random, start: datetime, end: datetime) -> datetime:
    """A timestamp between start and end, biased towards daytime hours."""
    day = start + timedelta(seconds=rng.uniform(0, max((end - start).total_seconds(), 1)))
    hour = min(23, max(0, int(rng.gauss(15, 4))))
    candidate = day.replace(hour=hour, minute=rng.randrange(60), second=rng.randrange(60))
    return min(max(candidate, start), end)


def fmt(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%d %H:%M:%S")


def make_products(rng: Random) -> list[dict]:
    products = []
    names: set[str] = set()
    categories = list(CATEGORIES)
    for index in range(N_PRODUCTS):
        category = categories[index % len(categories)]
        (low, high), nouns = CATEGORIES[category]
        while True:
            name = f"{rng.choice(ADJECTIVES)} {rng.choice(nouns)}"
            if name not in names:
                names.add(name)
                break
        price = rng.uniform(low, high)
        price = int(price) + 0.99 if rng.random() < 0.6 else round(price, 2)  # most prices end in .99
        cost = round(price * rng.uniform(0.42, 0.78), 2)
        products.append(
            {
                "product_id": f"P{index + 1:03d}",
                "product_name": name,
                "category": category,
                "unit_price": price,
                "cost": cost,
                # popularity is not written; it drives how often the product is bought and viewed
                "_popularity": rng.paretovariate(1.6),
            }
        )
    return products


def make_customers(rng: Random) -> list[dict]:
    customers = []
    for customer_id in range(1, N_CUSTOMERS + 1):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        email = f"{first}.{last}{customer_id}@{rng.choice(EMAIL_DOMAINS)}".lower()
        roll = rng.random()
        if roll < 0.016:  # missing '@'
            email = email.replace("@", "", 1) if rng.random() < 0.5 else email.replace("@", " at ", 1)
        elif roll < 0.022:  # missing domain
            email = email.split("@")[0] + "@"
        elif roll < 0.030:  # empty
            email = ""
        elif roll < 0.045:  # valid, but needs normalising
            email = f"  {email.upper()} " if rng.random() < 0.5 else email.capitalize()
        # signup from mid-2022 to early November 2025, with more recent signups
        signup = date(2022, 6, 1) + timedelta(days=int((1 - rng.random() ** 1.3) * 1250))
        segment = weighted(rng, SEGMENTS)
        active_from = max(YEAR_START, datetime.combine(signup, datetime.min.time()) + timedelta(days=1))
        # a churner leaves between March and late September (>90 days before year end), at least a month after
        # joining; customers who joined after August cannot have churned yet
        churn_date = None
        if rng.random() < 0.30 and active_from < datetime(2025, 8, 25):
            earliest = max(datetime(2025, 3, 1), active_from + timedelta(days=30))
            churn_date = earliest + timedelta(days=rng.randrange(0, (datetime(2025, 9, 25) - earliest).days + 1))
        churned = churn_date is not None
        customers.append(
            {
                "customer_id": customer_id,
                "first_name": first,
                "last_name": last,
                "email": email,
                "country": weighted(rng, COUNTRIES),
                "signup_date": signup.isoformat(),
                "segment": segment,
                "_churn_date": churn_date,
                "_active_from": active_from,
                "_active_to": churn_date or YEAR_END,
                "_rate": ORDERS_PER_YEAR[segment] * rng.gammavariate(2.0, 0.5) * (1.15 if churned else 1.0),
                "_channel": weighted(rng, CHANNELS),
                "_never_orders": rng.random() < 0.04,
            }
        )
    return customers


def order_status(rng: Random, ts: datetime, churner: bool) -> str:
    age_days = (YEAR_END - ts).days
    if rng.random() < 0.07:
        return "cancelled"
    if age_days <= 2:
        return "placed" if rng.random() < 0.8 else "shipped"
    if age_days <= 9:
        return "shipped" if rng.random() < 0.75 else "delivered"
    if rng.random() < (0.15 if churner else 0.05):
        return "returned"
    return "delivered"


def make_orders(rng: Random, customers: list[dict]) -> list[dict]:
    raw = []
    for customer in customers:
        start, end = customer["_active_from"], customer["_active_to"]
        if customer["_never_orders"] or end <= start:
            continue
        timestamps = []
        ts = start + timedelta(days=rng.expovariate(customer["_rate"] / 365.0))
        while ts < end:
            timestamps.append(random_ts(rng, ts, min(ts + timedelta(hours=12), end)))
            ts += timedelta(days=rng.expovariate(customer["_rate"] / 365.0))
        # retained customers nearly always come back in the last quarter
        recent = datetime(2025, 10, 10)
        if customer["_churn_date"] is None and start < recent and not any(t >= recent for t in timestamps):
            if rng.random() < 0.85:
                timestamps.append(random_ts(rng, recent, YEAR_END))
        for ts in timestamps:
            channel = customer["_channel"] if rng.random() < 0.7 else weighted(rng, CHANNELS)
            raw.append((ts, customer, channel))
    raw.sort(key=lambda row: (row[0], row[1]["customer_id"]))
    orders = []
    for index, (ts, customer, channel) in enumerate(raw):
        status = order_status(rng, ts, customer["_churn_date"] is not None)
        if rng.random() < 0.02:  # a little inconsistent casing from a legacy system
            status = status.upper() if rng.random() < 0.5 else status.capitalize()
        orders.append(
            {
                "order_id": 100001 + index,
                "customer_id": customer["customer_id"],
                "order_ts": fmt(ts),
                "status": status,
                "channel": channel,
                "_ts": ts,
            }
        )
    return orders


def promotion_rates(day: date) -> list[float] | None:
    for first, last, rates in PROMOTIONS:
        if first <= day <= last:
            return rates
    return None


def make_order_items(rng: Random, orders: list[dict], products: list[dict]) -> list[dict]:
    weights = [product["_popularity"] for product in products]
    items = []
    for order in orders:
        n_lines = rng.choices([1, 2, 3, 4, 5], weights=[30, 30, 22, 12, 6])[0]
        chosen: list[dict] = []
        while len(chosen) < n_lines:
            product = rng.choices(products, weights=weights)[0]
            if product not in chosen:
                chosen.append(product)
        promo = promotion_rates(order["_ts"].date())
        for line_no, product in enumerate(chosen, start=1):
            if promo:
                discount = rng.choice(promo)
            else:
                discount = rng.choices([0.0, 0.05, 0.10, 0.15, 0.20], weights=[74, 10, 9, 4, 3])[0]
            # list prices rose by ~4% on 1 July
            price = product["unit_price"] * (0.96 if order["_ts"] < datetime(2025, 7, 1) else 1.0)
            items.append(
                {
                    "order_id": order["order_id"],
                    "line_no": line_no,
                    "product_id": product["product_id"],
                    "quantity": rng.choices([1, 2, 3, 4], weights=[70, 20, 7, 3])[0],
                    "unit_price": round(price, 2),
                    "discount": discount,
                }
            )
    return items


def make_payments(rng: Random, orders: list[dict], items: list[dict]) -> list[tuple]:
    totals: dict[int, float] = {}
    for item in items:
        line = item["quantity"] * item["unit_price"] * (1 - item["discount"])
        totals[item["order_id"]] = totals.get(item["order_id"], 0.0) + line
    payments = []
    for order in orders:
        status = order["status"].lower()
        if status == "cancelled" or (status == "placed" and rng.random() < 0.4):
            continue
        total = round(totals[order["order_id"]], 2)
        method = weighted(rng, PAYMENT_METHODS)
        delay = timedelta(days=rng.uniform(0.5, 3)) if method == "bank_transfer" else timedelta(seconds=rng.randrange(5, 900))
        paid_at = order["_ts"] + delay
        if total > 40 and rng.random() < 0.05:  # part paid with a gift card
            gift = round(min(total - 5, rng.choice([10, 20, 25, 50])), 2)
            payments.append((order["order_id"], "gift_card", gift, fmt(order["_ts"] + timedelta(seconds=3))))
            total = round(total - gift, 2)
        roll = rng.random()
        if roll < 0.008:  # a coupon the payment service applied but the shop did not record
            total = round(total - rng.choice([5, 10, 15]), 2) if total > 20 else total
        payments.append((order["order_id"], method, total, fmt(paid_at)))
        if 0.008 <= roll < 0.012:  # charged twice by a payment-provider retry
            payments.append((order["order_id"], method, total, fmt(paid_at + timedelta(seconds=rng.randrange(20, 120)))))
    return [(index + 1, *payment) for index, payment in enumerate(payments)]


def make_events(rng: Random, customers: list[dict], orders: list[dict], products: list[dict]) -> list[dict]:
    weights = [product["_popularity"] for product in products]
    orders_per_customer: dict[int, int] = {}
    for order in orders:
        orders_per_customer[order["customer_id"]] = orders_per_customer.get(order["customer_id"], 0) + 1
    sessions = []  # (start, customer_id or None)
    for customer in customers:
        start, end = customer["_active_from"], customer["_active_to"]
        if end <= start:
            continue
        # churners browse less; everyone browses roughly in proportion to how much they buy
        engagement = 0.55 if customer["_churn_date"] else 1.0
        n_sessions = int(round((0.3 + 0.36 * orders_per_customer.get(customer["customer_id"], 0)) * engagement * rng.uniform(0.6, 1.4)))
        for _ in range(n_sessions):
            sessions.append((random_ts(rng, start, end), customer["customer_id"]))
    for _ in range(int(len(sessions) * 0.06)):  # visitors who never logged in
        sessions.append((random_ts(rng, YEAR_START, YEAR_END), None))
    sessions.sort(key=lambda session: (session[0], session[1] or 0))

    events = []
    for session_index, (ts, customer_id) in enumerate(sessions, start=1):
        session_id = f"S{session_index:05d}"
        first = "search" if rng.random() < 0.35 else "page_view"
        kinds = [first]
        for _ in range(rng.choices([0, 1, 2, 3, 4, 5], weights=[12, 22, 24, 18, 14, 10])[0]):
            kinds.append("page_view" if rng.random() < 0.8 else "search")
        if rng.random() < 0.45:
            kinds.append("add_to_cart")
            if rng.random() < 0.55:
                kinds.append("checkout")
        viewed = None
        for kind in kinds:
            product_id = None
            if kind == "page_view" and rng.random() < 0.85:
                viewed = rng.choices(products, weights=weights)[0]["product_id"]
                product_id = viewed
            elif kind == "add_to_cart":
                product_id = viewed or rng.choices(products, weights=weights)[0]["product_id"]
            events.append(
                {
                    "customer_id": customer_id,
                    "event_ts": ts.strftime("%Y-%m-%dT%H:%M:%S"),
                    "event_type": kind,
                    "product_id": product_id,
                    "session_id": session_id,
                }
            )
            ts += timedelta(seconds=rng.randrange(8, 240))
    events.sort(key=lambda event: (event["event_ts"], event["session_id"]))
    return [{"event_id": index, **event} for index, event in enumerate(events, start=1)]


def write_csv(path: Path, rows: list[dict], columns: list[str]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([row[column] for column in columns])


def write_parquet(path: Path, rows: list[dict], schema: pa.Schema) -> None:
    columns = {field.name: [row[field.name] for row in rows] for field in schema}
    pq.write_table(pa.table(columns, schema=schema), path, compression="zstd")


def write_sqlite(path: Path, payments: list[tuple]) -> None:
    path.unlink(missing_ok=True)
    with sqlite3.connect(path) as connection:
        connection.execute(
            """CREATE TABLE payments (
                   payment_id INTEGER PRIMARY KEY,
                   order_id   INTEGER NOT NULL,
                   method     TEXT    NOT NULL,
                   amount     REAL    NOT NULL,
                   paid_at    TEXT    NOT NULL
               )"""
        )
        connection.executemany("INSERT INTO payments VALUES (?, ?, ?, ?, ?)", payments)
        connection.execute("CREATE INDEX payments_order_id ON payments (order_id)")
    connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "data")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    rng = Random(SEED)
    products = make_products(rng)
    customers = make_customers(rng)
    orders = make_orders(rng, customers)
    items = make_order_items(rng, orders, products)
    payments = make_payments(rng, orders, items)
    events = make_events(rng, customers, orders, products)

    write_csv(args.out / "customers.csv", customers,
              ["customer_id", "first_name", "last_name", "email", "country", "signup_date", "segment"])
    write_parquet(args.out / "products.parquet", products, pa.schema([
        ("product_id", pa.string()), ("product_name", pa.string()), ("category", pa.string()),
        ("unit_price", pa.float64()), ("cost", pa.float64()),
    ]))
    write_csv(args.out / "orders.csv", orders, ["order_id", "customer_id", "order_ts", "status", "channel"])
    write_parquet(args.out / "order_items.parquet", items, pa.schema([
        ("order_id", pa.int64()), ("line_no", pa.int32()), ("product_id", pa.string()),
        ("quantity", pa.int32()), ("unit_price", pa.float64()), ("discount", pa.float64()),
    ]))
    with (args.out / "events.jsonl").open("w") as handle:
        for event in events:
            handle.write(json.dumps(event, separators=(",", ":")) + "\n")
    write_sqlite(args.out / "shop.db", payments)

    churners = sum(1 for customer in customers if customer["_churn_date"])
    print(f"customers={len(customers)} (churners={churners}) products={len(products)} orders={len(orders)} "
          f"order_items={len(items)} events={len(events)} payments={len(payments)} -> {args.out}")


if __name__ == "__main__":
    main()
