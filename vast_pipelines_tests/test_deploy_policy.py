import tomllib
from urllib.parse import parse_qs, urlsplit

import dagster as dg
import pytest
import yaml

from vast_pipelines import definitions
from vast_pipelines.definitions import code_location
from vast_pipelines.policy.deploy import (
    deploy_problems,
    deploy_spec,
    endpoint_body,
    endpoint_name_for,
    foreign_groups,
    launch_args,
    router_key_for,
    workergroup_body,
    workers_summary,
)
from vast_pipelines.policy.guide_words import GUIDE_DEPLOY, GuideWords, combine, from_guide, to_guide, with_defaults
from vast_pipelines.policy.update_worker import update_worker_run_config
from vast_pipelines.policy.worker_settings import (
    DEPLOY_DEFAULTS,
    Change,
    WorkerSettings,
    changes,
    from_vast,
    gpu_from_search_params,
    merged,
    settings_problems,
    with_gpu,
)
from vast_pipelines.reports.deploy import (
    launchpad_path,
    reuse_notes,
    run_config_yaml,
    settings_table,
    update_worker_recommendation,
)
from vast_pipelines_tests.conftest import REPO

GUIDE_QUERY = "gpu_name=RTX_4090 verified=True rentable=True rented=False"
CURRENT = WorkerSettings(
    min_load=0.0,
    min_cold_load=0.0,
    cold_workers=1,
    max_workers=3,
    target_util=0.9,
    cold_mult=2.5,
    inactivity_timeout=300,
    search_params=GUIDE_QUERY,
)


@pytest.mark.parametrize(
    ("model", "endpoint", "key"),
    [
        # The guide's own example: llama-3-8b → VLLM_ENDPOINT_LLAMA3 (size and separators dropped).
        ("meta-llama/Llama-3-8b", "llama-3-8b", "VLLM_ENDPOINT_LLAMA3"),
        ("meta-llama/Meta-Llama-3-70B-Instruct", "meta-llama-3-70b-instruct", "VLLM_ENDPOINT_METALLAMA3INSTRUCT"),
        ("Qwen/Qwen2.5-7B-Instruct", "qwen2-5-7b-instruct", "VLLM_ENDPOINT_QWEN25INSTRUCT"),
        ("mistral", "mistral", "VLLM_ENDPOINT_MISTRAL"),
        ("tiny/8b", "8b", "VLLM_ENDPOINT_8B"),
    ],
)
def test_names_derive_from_the_model(model, endpoint, key):
    assert endpoint_name_for(model) == endpoint
    assert router_key_for(endpoint) == key
    spec = deploy_spec(model, image="img:1")
    assert (spec.endpoint_name, spec.router_env_key) == (endpoint, key)


def test_given_names_win_and_blanks_count_as_not_given():
    spec = deploy_spec(
        " meta-llama/Llama-3-8b ", image=" ", template_hash="abc123", router_env_key="VLLM_ENDPOINT_LLAMA_3_8B"
    )
    assert spec.model_name == "meta-llama/Llama-3-8b"
    assert spec.image is None and spec.template_hash == "abc123"
    assert spec.router_env_key == "VLLM_ENDPOINT_LLAMA_3_8B"
    assert deploy_problems(spec) == []


def test_the_guides_deploy_words_map_onto_vast_fields_in_one_place():
    translation = from_guide(GUIDE_DEPLOY)
    assert translation.settings == WorkerSettings(
        min_load=0.0, max_workers=3, inactivity_timeout=300, search_params=GUIDE_QUERY
    )
    assert translation.problems == ()
    assert any(
        "min_workers=0 → min_load=0: scale to zero active workers after 300 s" in line for line in translation.lines
    )
    spec = deploy_spec("meta-llama/Llama-3-8b", image="img:1")
    assert spec.settings == CURRENT  # the guide's words over DEPLOY_DEFAULTS
    assert merged(DEPLOY_DEFAULTS, translation.settings) == CURRENT
    assert to_guide(CURRENT) == GUIDE_DEPLOY


@pytest.mark.parametrize(
    ("words", "direct", "expected"),
    [
        (GuideWords(), WorkerSettings(), GUIDE_DEPLOY),
        # A Vast.ai field given directly leaves its guide word empty: no default fights it.
        (
            GuideWords(),
            WorkerSettings(inactivity_timeout=900, min_load=245.0, max_workers=2, search_params="gpu_name=H100"),
            GuideWords(),
        ),
        # A word given is kept, whatever the field.
        (
            GuideWords(min_workers=1),
            WorkerSettings(min_load=2.0),
            GuideWords(idle_timeout=300, min_workers=1, max_workers=3, gpu_type="RTX_4090"),
        ),
    ],
)
def test_guide_words_take_their_defaults_unless_their_vast_field_is_given(words, direct, expected):
    assert with_defaults(words, direct, GUIDE_DEPLOY) == expected


@pytest.mark.parametrize(
    ("words", "perf", "expected", "line"),
    [
        # Keep a worker warm: min_load above 0 (not cold_workers, which keeps only stopped workers).
        (GuideWords(min_workers=1), None, WorkerSettings(min_load=1.0), "documented value for at least one active"),
        (GuideWords(min_workers=1), 245.0, WorkerSettings(min_load=245.0), "1 × measured perf 245"),
        (GuideWords(min_workers=2), 245.5, WorkerSettings(min_load=491.0), "keep 2 worker(s) active"),
        # Scale to zero: min_load 0 with an inactivity_timeout.
        (
            GuideWords(min_workers=0, idle_timeout=600),
            None,
            WorkerSettings(min_load=0.0, inactivity_timeout=600),
            "scale to zero active workers after 600 s",
        ),
        (GuideWords(idle_timeout=600), None, WorkerSettings(inactivity_timeout=600), "inactivity_timeout=600 s"),
        (
            GuideWords(gpu_type="RTX_A6000"),
            None,
            WorkerSettings(search_params=GUIDE_QUERY.replace("RTX_4090", "RTX_A6000")),
            "gpu_type=RTX_A6000",
        ),
    ],
)
def test_the_guides_words_keep_the_guides_meaning(words, perf, expected, line):
    translation = from_guide(words, worker_perf=perf)
    assert translation.settings == expected
    assert translation.settings.cold_workers is None  # min_workers never moves cold_workers
    assert translation.problems == ()
    assert any(line in shown for shown in translation.lines), translation.lines


def test_several_warm_workers_need_a_measured_perf():
    translation = from_guide(GuideWords(min_workers=2))
    assert translation.settings == WorkerSettings()
    [problem] = translation.problems
    assert "min_workers=2 needs a worker's measured perf" in problem and "give min_load" in problem


def test_a_field_given_both_ways_must_agree():
    agree = combine(WorkerSettings(inactivity_timeout=600), from_guide(GuideWords(idle_timeout=600)))
    assert agree.problems == () and agree.settings == WorkerSettings(inactivity_timeout=600)
    clash = combine(WorkerSettings(min_load=50.0), from_guide(GuideWords(min_workers=0)))
    [problem] = clash.problems
    assert "min_load=50.0 and the guide's min_workers (→ min_load=0.0) disagree" in problem
    direct = combine(WorkerSettings(cold_workers=2), from_guide(GuideWords(min_workers=1), worker_perf=100.0))
    assert direct.settings == WorkerSettings(min_load=100.0, cold_workers=2)


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


def test_from_vast_reads_every_field_and_several_queries():
    settings = from_vast(
        {"inactivity_timeout": "450", "min_load": 12, "cold_workers": 2, "endpoint_name": "x"},
        ["gpu_name=RTX_4090", "gpu_name=RTX_3090", None],
    )
    assert settings == WorkerSettings(
        min_load=12.0, cold_workers=2, inactivity_timeout=450, search_params="gpu_name=RTX_3090; gpu_name=RTX_4090"
    )
    assert to_guide(settings).min_workers == 1 and to_guide(WorkerSettings(min_load=0)).min_workers == 0


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        (WorkerSettings(inactivity_timeout=-1), "inactivity_timeout must be between 0 and 86400"),
        (WorkerSettings(min_load=-1), "min_load must be 0 or more"),
        (WorkerSettings(cold_workers=-1), "cold_workers must be 0 or more"),
        (WorkerSettings(max_workers=0), "max_workers must be at least 1"),
        (WorkerSettings(cold_workers=4, max_workers=3), "cold_workers (4) cannot exceed max_workers (3)"),
        (WorkerSettings(target_util=1.5), "target_util must be above 0 and at most 1"),
        (WorkerSettings(search_params=" "), "search_params must not be empty"),
    ],
)
def test_settings_problems_name_the_field(settings, problem):
    [found] = settings_problems(settings)
    assert problem in found


def test_valid_settings_have_no_problems():
    assert settings_problems(CURRENT) == []
    assert settings_problems(WorkerSettings()) == []
    assert from_guide(GuideWords(gpu_type="RTX 4090 verified=False")).problems[0].endswith("e.g. RTX_4090 or RTX_A6000")


def test_changes_are_only_the_given_fields_that_differ():
    assert changes(CURRENT, WorkerSettings(inactivity_timeout=600, max_workers=3)) == (
        Change("inactivity_timeout", 300, 600),
    )
    assert changes(CURRENT, WorkerSettings(inactivity_timeout=300, min_load=0)) == ()
    assert changes(CURRENT, WorkerSettings()) == ()
    assert merged(CURRENT, WorkerSettings(min_load=1.0)).min_load == 1.0


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
        ({"image": "a", "direct": WorkerSettings(max_workers=0)}, "max_workers must be at least 1"),
        ({"image": "a", "words": GuideWords(min_workers=0, max_workers=3, gpu_type="RTX_4090")}, "scales to zero only"),
        ({"image": "a", "words": GuideWords(min_workers=3, idle_timeout=300)}, "needs a worker's measured perf"),
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
        "min_cold_load": 0.0,
        "cold_workers": 1,
        "max_workers": 3,
        "target_util": 0.9,
        "cold_mult": 2.5,
        "inactivity_timeout": 300,
    }
    warm = deploy_spec("m/x", image="i", words=GuideWords(min_workers=1, idle_timeout=300, gpu_type="RTX_4090"))
    assert endpoint_body(warm)["min_load"] == 1.0 and endpoint_body(warm)["cold_workers"] == 1
    group = workergroup_body(spec, 101)
    assert group["endpoint_id"] == 101 and group["search_params"].startswith("gpu_name=RTX_4090 ")
    assert group["launch_args"] == (
        "--image registry.gitlab.com/blueflyio/vast-ai/llama-3-8b:latest "
        "--env '-e MODEL_NAME=meta-llama/Llama-3-8b -p 8000:8000' --disk 64"
    )
    templated = workergroup_body(deploy_spec("m/x", template_hash="abc123def"), 7)
    assert templated["template_hash"] == "abc123def" and "launch_args" not in templated
    assert launch_args("img", "m", 80).endswith("--disk 80")


def test_workers_summary_counts_states():
    assert workers_summary([]) == "no workers yet"
    assert workers_summary(["loading", "Loading", "creating"]) == "3 workers: 2 loading, 1 creating"


def test_update_worker_run_config_is_flat_and_validated():
    config = update_worker_run_config("llama-3-8b", WorkerSettings(inactivity_timeout=600))
    assert config == {"endpoint": "llama-3-8b", "inactivity_timeout": 600}
    assert update_worker_run_config(101, {"max_workers": 2}) == {"endpoint": "101", "max_workers": 2}
    # The guide's words are accepted as they are; update_worker translates them and shows it first.
    assert update_worker_run_config("x", {"min_workers": 1}) == {"endpoint": "x", "min_workers": 1}
    assert yaml.safe_load(run_config_yaml(config)) == config
    with pytest.raises(ValueError, match="no setting idle_timout"):
        update_worker_run_config("x", {"idle_timout": 600})
    with pytest.raises(ValueError, match="max_workers must be at least 1"):
        update_worker_run_config("x", {"max_workers": 0})
    with pytest.raises(ValueError, match="endpoint"):
        update_worker_run_config(" ", {"max_workers": 2})


def test_launchpad_link_carries_the_config():
    config = update_worker_run_config("llama-3-8b", WorkerSettings(inactivity_timeout=600))
    path = launchpad_path("update_worker", config, "__repository__@vast-pipelines")
    parts = urlsplit(path)
    assert parts.path == "/locations/__repository__@vast-pipelines/jobs/update_worker/playground/setup"
    assert yaml.safe_load(parse_qs(parts.query)["config"][0]) == config
    markdown = update_worker_recommendation(
        "llama-3-8b", WorkerSettings(inactivity_timeout=600), "__repository__@x", "http://127.0.0.1:3000/"
    )
    assert "](http://127.0.0.1:3000/locations/__repository__@x/jobs/" in markdown
    assert "inactivity_timeout: 600" in markdown


def test_the_code_location_outside_a_launched_run_is_the_one_dagster_dev_serves():
    workspace = yaml.safe_load((REPO / "workspace.yaml").read_text())
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["dg"]["project"]
    module = workspace["load_from"][0]["python_module"]["module_name"]
    assert module == project["code_location_name"] == definitions.__name__

    @dg.op
    def where(context: dg.OpExecutionContext) -> str:
        return code_location(context)

    @dg.job
    def locate() -> None:
        where()

    result = dg.Definitions(jobs=[locate]).resolve_job_def("locate").execute_in_process()
    assert result.output_for_node("where") == f"__repository__@{module}"


def test_settings_table_marks_what_changes():
    table = settings_table(CURRENT, merged(CURRENT, WorkerSettings(inactivity_timeout=600)))
    assert (
        "| inactivity_timeout | seconds without traffic before it may scale to zero active workers | 300 s | "
        "**600 s** |" in table
    )
    assert "| max_workers | most workers, active and stopped | 3 | 3 |" in table
    assert "| search_params | the worker group's GPU offer query | unknown |" in settings_table(WorkerSettings())


def test_worker_groups_running_another_image_are_named_with_how_to_replace_them():
    spec = deploy_spec("meta-llama/Llama-3-8b", image="img:2")
    groups = [
        {"id": 7, "launch_args": "--image img:2 --env '-e MODEL_NAME=m' --disk 64"},
        {"id": 8, "launch_args": "--image img:1 --disk 64"},
        {"id": 9},
    ]
    assert foreign_groups(spec, groups) == [
        (8, "--image img:1 --disk 64", "--image img:2"),
        (9, "unknown", "--image img:2"),
    ]
    templated = deploy_spec("m/x", template_hash="abc123def")
    assert foreign_groups(templated, [{"id": 3, "template_hash": "abc123def"}]) == []
    [note] = reuse_notes("llama-3-8b", (), foreign_groups(spec, groups[1:2]))
    assert note.startswith("worker group 8 runs '--image img:1 --disk 64', not '--image img:2'")
    assert "`vastai delete workergroup 8`" in note
