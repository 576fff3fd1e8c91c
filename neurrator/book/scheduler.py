"""Moved to :mod:`neurrator.scheduler` (below every stage that uses it); kept for chapter 05's import until the
chapter is republished with the new one."""

from neurrator.scheduler import INPROCESS, client_for  # noqa: F401
