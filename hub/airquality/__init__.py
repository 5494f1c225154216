"""Air quality index (AQI) of air stations by HJ 633, with the GB 3095 limits (pure: see aqi.py)."""
