"""The app's requests follow the same network rules as ``--batch`` (core/http/)."""

from __future__ import annotations

import dataclasses


from laion_fmri_tui.core.settings import NetworkSettings, S3Settings
from laion_fmri_tui.tui.app import LaionFmriApp
from laion_fmri_tui.tui.screens.browser import BrowserScreen
from laion_fmri_tui.tui.widgets.bucket_tree import BucketTree
from network_stands import Front, site_ca, tinyproxy, tls_for
from pilot_helpers import open_node, settle


async def test_the_browser_lists_the_bucket_through_the_proxy(context, s3, tmp_path, monkeypatch):
    """The bucket is reachable only through tinyproxy (HTTPS_PROXY), over TLS
    signed by a site CA given as the app's --ca-bundle: the tree fills, and
    the proxy's log shows the tunnel."""
    authority, pem = site_ca(tmp_path)
    front = Front(("127.0.0.1", s3.port), tls_for(authority, "127.0.0.1"))
    try:
        with tinyproxy(tmp_path) as (port, log):
            monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{port}")
            s3_settings = S3Settings(endpoint_url=f"https://127.0.0.1:{front.port}",
                                     network=NetworkSettings(ca_bundle=str(pem)))
            app = LaionFmriApp(dataclasses.replace(context, s3=s3_settings))
            async with app.run_test(size=(80, 24)) as pilot:
                await settle(pilot)
                assert isinstance(app.screen, BrowserScreen)
                tree = app.screen.query_one(BucketTree)
                await open_node(pilot, tree, "sub-01")
                assert [n.data.id for n in tree.root.children][:2] == ["dataset", "sub-01"]
            logged = log.read_text()
    finally:
        front.close()
    assert f"CONNECT 127.0.0.1:{front.port}" in logged
    assert front.turned_away == 0
