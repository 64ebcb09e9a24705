"""Commands added by the analysis modules."""
