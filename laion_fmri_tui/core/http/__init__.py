"""The one HTTP layer: connection setup (proxy, TLS, addresses), the wire, retries, errors.

Every request of the tool (listings, object GETs on the lane, stimulus GETs,
the access service) applies the user's network settings
(:mod:`laion_fmri_tui.core.settings`) by the rules here, so proxy, CA and
address rules are written once: ``network`` (which proxy, which CAs), ``connect``
(addresses, failover, the proxy's tunnel, TLS), ``wire`` (HTTP/1.1 requests and answer
heads), ``answers`` (what a status means for a fetch), ``retry`` (the one retry rule).
"""
