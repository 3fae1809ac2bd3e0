from vast_pipelines.reports.plain import plain_text


def test_email_text_has_no_slack_markup():
    slack = (
        ":rotating_light: <!subteam^S0123|@platform-ops> *Vast.ai emergency shutdown*: DRY RUN\n"
        "Reason: runaway at 10:30:00 (run key runaway:2026-12-02), cost 2*3 = $6\n"
        "*2 step(s) failed* (stop): see <https://dagster.example/runs/1|the run>\n"
        ":warning: idle_timeout 600 s, <!here>"
    )
    assert plain_text(slack) == (
        "@platform-ops Vast.ai emergency shutdown: DRY RUN\n"
        "Reason: runaway at 10:30:00 (run key runaway:2026-12-02), cost 2*3 = $6\n"
        "2 step(s) failed (stop): see the run (https://dagster.example/runs/1)\n"
        "idle_timeout 600 s, @here"
    )
    assert plain_text("<!subteam^S0123> is tagged") == "on-call is tagged"
