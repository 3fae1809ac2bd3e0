from vast_pipelines.resources.tailscale import TailscaleResource, peer_state_from_status


def test_peer_state_from_the_cli(tailscale_cli):
    assert TailscaleResource(binary=str(tailscale_cli)).peer_state().state == "active"


def test_missing_cli_is_unknown_not_an_error():
    state = TailscaleResource(binary="no-such-tailscale-cli").peer_state()
    assert state.state == "unknown" and "not found" in state.detail


def test_offline_and_missing_peers():
    offline = {"BackendState": "Running", "Peer": {"k": {"HostName": "vastai-gpu", "Online": False}}}
    assert peer_state_from_status(offline, "vastai-gpu").state == "offline"
    assert peer_state_from_status({"BackendState": "Running", "Peer": {}}, "vastai-gpu").state == "not found"
    assert peer_state_from_status({"BackendState": "Stopped"}, "vastai-gpu").state == "offline"
