"""Experiments built on the library, each behind a tool: the evaluation report
(`evaluation`, tools/evaluate.py) and the downstream experiment (`downstream`,
tools/downstream.py). They judge the library; the library never imports them."""
