"""Fusion: correlation, warninglists, hit/no-hit deconfliction, watchlists and alerts."""
