"""Tags every run launched by this package's sensors, schedules and automation carries."""

from seeknal_dagster.assets._compat import MAX_RETRIES_TAG, RETRY_STRATEGY_TAG

#: How often Dagster's run retries re-run a failed run launched by a sensor, schedule or automation. A run a person
#: launches (the UI, the CLI) carries no such tag and is not retried (``max_retries: 0`` in dagster.yaml).
UNATTENDED_RUN_RETRIES = 2
#: A project's nodes share one step, so Dagster's default retry (from the failed step) would re-run every node of
#: the run; retrying from asset failure re-runs only the nodes that did not materialize (the failed ones and the
#: downstream they skipped). Retries happen when ``run_retries`` is enabled in dagster.yaml; a run whose failures
#: are all invalid configuration is marked not to be retried (see ``assets/runner.py``).
UNATTENDED_RUN_TAGS = {RETRY_STRATEGY_TAG: "FROM_ASSET_FAILURE", MAX_RETRIES_TAG: str(UNATTENDED_RUN_RETRIES)}
#: Which sources' new data a sensor run was launched for.
CHANGED_SOURCES_TAG = "seeknal/changed_sources"
