"""Simulated Okta and Slack on real loopback sockets, for tests, benchmarks and the demo.

Apart from ``app/`` on purpose: nothing on certnotify's data path imports them (only
the demo command, which runs the service against them).
"""
