"""Baselines under the same :class:`~hhfan.model.base.Recommender` interface, trainer and protocols."""
