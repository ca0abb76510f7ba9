"""The one HTTP layer: connection setup (proxy, TLS, addresses), retries, errors.

Every request of the tool (listings, object GETs on the lane, stimulus GETs,
the access service) takes its network settings from here, so proxy, CA and
address rules are written once.
"""
