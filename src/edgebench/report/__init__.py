"""Reports: pure functions of a results dict."""
