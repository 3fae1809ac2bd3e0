from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from vast_pipelines.policy.deploy import (
    Opportunity,
    deploy_problems,
    deploy_spec,
    endpoint_body,
    endpoint_name_for,
    is_ready,
    launch_args,
    launchpad_path,
    recommended_changes,
    router_key_for,
    run_config_yaml,
    update_worker_run_config,
    workergroup_body,
    workers_summary,
)
from vast_pipelines.policy.worker_settings import (
    GUIDE_SETTINGS,
    Change,
    WorkerSettings,
    changes,
    from_vast,
    gpu_from_search_params,
    merged,
    settings_problems,
    to_vast,
    with_gpu,
)
from vast_pipelines.reports.deploy import settings_table, update_worker_recommendation


@pytest.mark.parametrize(
    ("model", "endpoint", "key"),
    [
        ("meta-llama/Llama-3-8b", "llama-3-8b", "VLLM_ENDPOINT_LLAMA_3_8B"),
        (
            "meta-llama/Meta-Llama-3-70B-Instruct",
            "meta-llama-3-70b-instruct",
            "VLLM_ENDPOINT_META_LLAMA_3_70B_INSTRUCT",
        ),
        ("Qwen/Qwen2.5-7B-Instruct", "qwen2-5-7b-instruct", "VLLM_ENDPOINT_QWEN2_5_7B_INSTRUCT"),
        ("mistral", "mistral", "VLLM_ENDPOINT_MISTRAL"),
    ],
)
def test_names_derive_from_the_model(model, endpoint, key):
    assert endpoint_name_for(model) == endpoint
    assert router_key_for(endpoint) == key
    spec = deploy_spec(model, image="img:1")
    assert (spec.endpoint_name, spec.router_env_key) == (endpoint, key)


def test_given_names_win_and_blanks_count_as_not_given():
    spec = deploy_spec(
        " meta-llama/Llama-3-8b ", image=" ", template_hash="abc123", router_env_key="VLLM_ENDPOINT_LLAMA3"
    )
    assert spec.model_name == "meta-llama/Llama-3-8b"
    assert spec.image is None and spec.template_hash == "abc123"
    assert spec.router_env_key == "VLLM_ENDPOINT_LLAMA3"
    assert deploy_problems(spec) == []


def test_the_guides_settings_map_to_vast_fields_in_one_place():
    fields = to_vast(GUIDE_SETTINGS)
    assert fields.endpoint == {"inactivity_timeout": 300, "cold_workers": 0, "max_workers": 3}
    assert fields.workergroup == {"search_params": "gpu_name=RTX_4090 verified=True rentable=True rented=False"}
    assert to_vast(WorkerSettings(idle_timeout=600)) == to_vast(WorkerSettings(idle_timeout=600), "gpu_name=X")
    assert to_vast(WorkerSettings(idle_timeout=600)).workergroup == {}
    back = from_vast({**fields.endpoint, "endpoint_name": "x"}, [fields.workergroup["search_params"]])
    assert back == GUIDE_SETTINGS


@pytest.mark.parametrize(
    ("search_params", "gpu", "expected"),
    [
        (None, "RTX_4090", "gpu_name=RTX_4090"),
        ("gpu_ram>=23 gpu_name=RTX_4090 num_gpus=1", "RTX_A6000", "gpu_ram>=23 gpu_name=RTX_A6000 num_gpus=1"),
        ("verified=True", "RTX_3090", "gpu_name=RTX_3090 verified=True"),
        ("gpu_name==RTX_4090", "A100_PCIE", "gpu_name=A100_PCIE"),
    ],
)
def test_with_gpu_keeps_every_other_filter(search_params, gpu, expected):
    assert with_gpu(search_params, gpu) == expected
    assert gpu_from_search_params(expected) == gpu


def test_from_vast_reports_unknown_and_several_gpus():
    settings = from_vast({"inactivity_timeout": "450"}, ["gpu_name=RTX_4090", "gpu_name=RTX_3090", None])
    assert settings == WorkerSettings(idle_timeout=450, gpu_type="RTX_3090,RTX_4090")


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        (WorkerSettings(idle_timeout=-1), "idle_timeout must be between 0 and 86400"),
        (WorkerSettings(min_workers=-1), "min_workers must be 0 or more"),
        (WorkerSettings(max_workers=0), "max_workers must be at least 1"),
        (WorkerSettings(min_workers=4, max_workers=3), "min_workers (4) cannot exceed max_workers (3)"),
        (WorkerSettings(gpu_type="RTX 4090 verified=False"), "is not a Vast.ai GPU name"),
    ],
)
def test_settings_problems_name_the_field(settings, problem):
    [found] = settings_problems(settings)
    assert problem in found


def test_valid_settings_have_no_problems():
    assert settings_problems(GUIDE_SETTINGS) == []
    assert settings_problems(WorkerSettings()) == []


def test_changes_are_only_the_given_fields_that_differ():
    assert changes(GUIDE_SETTINGS, WorkerSettings(idle_timeout=600, max_workers=3)) == (
        Change("idle_timeout", 300, 600),
    )
    assert changes(GUIDE_SETTINGS, WorkerSettings(idle_timeout=300)) == ()
    assert changes(GUIDE_SETTINGS, WorkerSettings()) == ()
    assert merged(GUIDE_SETTINGS, WorkerSettings(gpu_type="RTX_A6000")).gpu_type == "RTX_A6000"


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"image": "a", "template_hash": "abcdef"}, "exactly one of image"),
        ({}, "exactly one of image"),
        ({"image": "a b"}, "image 'a b' must be an image reference"),
        ({"image": "a", "endpoint_name": "-bad name"}, "endpoint_name '-bad name'"),
        ({"image": "a", "router_env_key": "USE_VASTAI"}, "router_env_key 'USE_VASTAI'"),
        ({"image": "a", "router_env_key": "OPENAI_API_KEY"}, "must be an upper-case variable name starting with"),
        ({"image": "a", "endpoint_url": "vastai-gpu:8000"}, "must start with http://"),
        ({"image": "a", "settings": WorkerSettings(300, 0, 0, "RTX_4090")}, "max_workers must be at least 1"),
        ({"image": "a", "ready_timeout_seconds": 0}, "ready_timeout_seconds must be positive"),
        ({"template_hash": "not a hash!"}, "template_hash"),
    ],
)
def test_deploy_problems_name_what_to_fix(kwargs, problem):
    problems = deploy_problems(deploy_spec("meta-llama/Llama-3-8b", **kwargs))
    assert any(problem in p for p in problems), problems


def test_request_bodies_carry_the_guides_settings_and_the_image():
    spec = deploy_spec("meta-llama/Llama-3-8b", image="registry.gitlab.com/blueflyio/vast-ai/llama-3-8b:latest")
    assert endpoint_body(spec) == {
        "endpoint_name": "llama-3-8b",
        "min_load": 0.0,
        "target_util": 0.9,
        "cold_mult": 2.5,
        "inactivity_timeout": 300,
        "cold_workers": 0,
        "max_workers": 3,
    }
    group = workergroup_body(spec, 101)
    assert group["endpoint_id"] == 101 and group["search_params"].startswith("gpu_name=RTX_4090 ")
    assert group["launch_args"] == (
        "--image registry.gitlab.com/blueflyio/vast-ai/llama-3-8b:latest "
        "--env '-e MODEL_NAME=meta-llama/Llama-3-8b -p 8000:8000' --disk 64"
    )
    templated = workergroup_body(deploy_spec("m/x", template_hash="abc123def"), 7)
    assert templated["template_hash"] == "abc123def" and "launch_args" not in templated
    assert launch_args("img", "m", 80).endswith("--disk 80")


@pytest.mark.parametrize(
    ("status", "ready"),
    [("Ready (IDLE)", True), ("idle", True), ("running", True), ("loading", False), ("creating", False), ("", False)],
)
def test_worker_readiness(status, ready):
    assert is_ready(status) is ready


def test_workers_summary_counts_states():
    assert workers_summary([]) == "no workers yet"
    assert workers_summary(["loading", "Loading", "creating"]) == "3 workers: 2 loading, 1 creating"


@pytest.mark.parametrize(
    ("opportunity", "current", "expected"),
    [
        (Opportunity.MANY_COLD_STARTS, GUIDE_SETTINGS, WorkerSettings(idle_timeout=600)),
        (Opportunity.MANY_COLD_STARTS, WorkerSettings(idle_timeout=1200), WorkerSettings(idle_timeout=1800)),
        (Opportunity.MANY_COLD_STARTS, WorkerSettings(), WorkerSettings(idle_timeout=600)),
        (Opportunity.KEEP_WARM, GUIDE_SETTINGS, WorkerSettings(min_workers=1, max_workers=3)),
        (Opportunity.LOW_USAGE, GUIDE_SETTINGS, WorkerSettings(max_workers=2)),
        (Opportunity.LOW_USAGE, WorkerSettings(min_workers=1, max_workers=1), WorkerSettings(max_workers=1)),
        (Opportunity.NOT_SCALING_DOWN, WorkerSettings(idle_timeout=600), WorkerSettings(idle_timeout=300)),
    ],
)
def test_recommended_changes_follow_the_guide(opportunity, current, expected):
    assert recommended_changes(opportunity, current) == expected


def test_update_worker_run_config_is_flat_and_validated():
    config = update_worker_run_config("llama-3-8b", WorkerSettings(idle_timeout=600))
    assert config == {"endpoint": "llama-3-8b", "idle_timeout": 600}
    assert update_worker_run_config(101, {"max_workers": 2}) == {"endpoint": "101", "max_workers": 2}
    assert yaml.safe_load(run_config_yaml(config)) == config
    with pytest.raises(ValueError, match="no setting idle_timout"):
        update_worker_run_config("x", {"idle_timout": 600})
    with pytest.raises(ValueError, match="max_workers must be at least 1"):
        update_worker_run_config("x", {"max_workers": 0})
    with pytest.raises(ValueError, match="endpoint"):
        update_worker_run_config(" ", {"max_workers": 2})


def test_launchpad_link_carries_the_config():
    config = update_worker_run_config("llama-3-8b", WorkerSettings(idle_timeout=600))
    path = launchpad_path("update_worker", config)
    parts = urlsplit(path)
    assert parts.path == "/locations/__repository__@vast_pipelines.definitions/jobs/update_worker/playground/setup"
    assert yaml.safe_load(parse_qs(parts.query)["config"][0]) == config
    markdown = update_worker_recommendation("llama-3-8b", WorkerSettings(idle_timeout=600), "http://127.0.0.1:3000/")
    assert "](http://127.0.0.1:3000/locations/" in markdown and "idle_timeout: 600" in markdown


def test_settings_table_marks_what_changes():
    table = settings_table(GUIDE_SETTINGS, merged(GUIDE_SETTINGS, WorkerSettings(idle_timeout=600)))
    assert "| idle_timeout | inactivity_timeout | 300 s | **600 s** |" in table
    assert "| max_workers | max_workers | 3 | 3 |" in table
    assert "| gpu_type | search_params | unknown |" in settings_table(WorkerSettings())
