"""Tags every run launched by this package's sensors, schedules and automation carries."""

from seeknal_dagster.assets._compat import RETRY_STRATEGY_TAG

#: A project's nodes share one step, so Dagster's default retry (from the failed step) would re-run every node of
#: the run; retrying from asset failure re-runs only the nodes that did not materialize (the failed ones and the
#: downstream they skipped). Retries happen when ``run_retries`` is enabled in dagster.yaml.
RETRY_FROM_ASSET_FAILURE = {RETRY_STRATEGY_TAG: "FROM_ASSET_FAILURE"}
#: Which sources' new data a sensor run was launched for.
CHANGED_SOURCES_TAG = "seeknal/changed_sources"
