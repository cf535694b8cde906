"""The sample Seeknal project, packaged so ``dagster -m seeknal_project.definitions`` finds it anywhere."""
