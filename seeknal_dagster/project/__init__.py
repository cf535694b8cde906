"""Reading Seeknal projects: node models, discovery, templating, profiles."""

from seeknal_dagster.project.errors import Problem, ProjectLoadError
from seeknal_dagster.project.loader import ProjectNode, SeeknalProject, load_project
from seeknal_dagster.project.models import NodeKind, NodeSpec

__all__ = ["NodeKind", "NodeSpec", "Problem", "ProjectLoadError", "ProjectNode", "SeeknalProject", "load_project"]
