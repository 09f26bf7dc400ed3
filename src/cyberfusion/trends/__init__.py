"""Trend monitoring and foresight: time series, spikes, forecasts, charts, horizon notes, briefs."""
