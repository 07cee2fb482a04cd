"""The event log: recorder, reader (truncated and corrupted files), replay and the validator."""
import json

import pytest

from nasbench.events import (EventLogError, Recorder, check, make_event, read_events, replay,
                             validate)

SPACE = {"name": "toy", "decisions": ["a", "b"], "options": [["x", "y"], ["x", "y", "z"]]}


def good_log():
    return [
        make_event("run_start", 0.0, method="random", dataset="digits", seed=0, config={}, space=SPACE),
        make_event("sample", 0.1, step=0, choices=[1, 2], arch="a=y,b=z", purpose="train"),
        make_event("step", 0.2, step=0, epoch=0, phase="weights", loss=2.3, acc=0.1, lr=0.025),
        make_event("alpha", 0.3, step=0, probs=[[0.5, 0.5], [0.2, 0.3, 0.5]]),
        make_event("genotype", 0.3, step=0, arch="a=y,b=z", choices=[1, 2]),
        make_event("eval", 0.4, arch="a=x,b=x", choices=[0, 0], score=0.5, metric="valid_acc"),
        make_event("metric", 0.4, step=1, name="entropy", value=0.69),
        make_event("run_end", 0.5, status="completed", best="a=y,b=z", wall=0.5),
    ]


def test_a_good_log_is_valid():
    assert validate(good_log()) == []
    check(good_log())


@pytest.mark.parametrize("index, change, problem", [
    (2, {"loss": "high"}, "loss"),                      # wrong type
    (2, {"loss": None}, "loss"),
    (1, {"choices": [2, 0]}, "choices"),                 # option 2 of a 2-option decision
    (1, {"choices": [0]}, "choices"),                    # one choice short
    (1, {"purpose": "fun"}, "purpose"),
    (3, {"probs": [[0.6, 0.6], [0.2, 0.3, 0.5]]}, "distribution"),
    (3, {"probs": [[1.0], [0.2, 0.3, 0.5]]}, "probs"),
    (7, {"status": "done"}, "status"),
    (4, {"t": 0.05}, "backwards"),
    (2, {"v": 2}, "'v'"),
    (2, {"type": "bogus"}, "unknown type"),
])
def test_validator_names_each_problem(index, change, problem):
    log = good_log()
    log[index] = {**log[index], **change}
    problems = validate(log)
    assert problems and any(problem in p for p in problems), problems


def test_validator_checks_required_fields_and_structure():
    log = good_log()
    del log[2]["phase"]
    assert any("missing field 'phase'" in p for p in validate(log))
    assert any("start with run_start" in p for p in validate(good_log()[1:]))
    assert any("no run_end" in p for p in validate(good_log()[:-1]))
    assert validate(good_log()[:-1], complete=False) == []
    assert any("after run_end" in p for p in validate(good_log() + [good_log()[2]]))
    assert validate([]) == ["the log is empty"]
    with pytest.raises(EventLogError, match="no run_end"):
        check(good_log()[:-1])


def test_recorder_flushes_each_event(tmp_path):
    path = tmp_path / "events.jsonl"
    rec = Recorder(path)
    for n, event in enumerate(good_log(), start=1):
        rec(event)
        assert len(read_events(path)) == n  # readable while the run is still going
    rec.close()
    assert read_events(path) == good_log()


def test_recorder_refuses_nan(tmp_path):
    with Recorder(tmp_path / "e.jsonl") as rec, pytest.raises(ValueError):
        rec(make_event("metric", 0, step=0, name="x", value=float("nan")))


def test_reader_survives_a_truncated_last_line(tmp_path):
    path = tmp_path / "events.jsonl"
    lines = [json.dumps(e) for e in good_log()]
    path.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][: len(lines[-1]) // 2])
    with pytest.warns(UserWarning, match="truncated"):
        events = read_events(path)
    assert events == good_log()[:-1]


def test_reader_names_a_corrupted_line(tmp_path):
    path = tmp_path / "events.jsonl"
    lines = [json.dumps(e) for e in good_log()]
    lines[3] = "{not json"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(EventLogError, match=r"events.jsonl:4"):
        read_events(path)
    with pytest.raises(EventLogError, match="no event log"):
        read_events(tmp_path / "missing.jsonl")


def test_replay_feeds_consumers_in_order_and_flushes(tmp_path):
    path = tmp_path / "events.jsonl"
    with Recorder(path) as rec:
        for e in good_log():
            rec(e)

    class Sink(list):
        flushed = 0

        def __call__(self, event):
            self.append(event)

        def flush(self):
            self.flushed += 1

    sink = Sink()
    replay(path, sink)
    assert list(sink) == good_log() and sink.flushed == 1
    sink2 = Sink()
    replay(good_log(), sink2)
    assert list(sink2) == good_log()


def test_steps_never_go_back_and_each_weight_update_has_its_own():
    log = good_log()
    log.insert(3, make_event("step", 0.25, step=0, epoch=0, phase="arch", loss=2.0))      # fine
    assert validate(log) == []
    again = good_log()
    again.insert(3, make_event("step", 0.25, step=0, epoch=0, phase="weights", loss=2.0))
    assert ["a second weights step 0" in p for p in validate(again)] == [True]
    back = good_log()
    back[6] = make_event("metric", 0.4, step=1, name="entropy", value=0.69)
    back.insert(7, make_event("step", 0.45, step=0, epoch=1, phase="weights", loss=2.0))  # per epoch
    problems = validate(back)
    assert len(problems) == 1 and "event 8 (step): step 0 comes after step 1" in problems[0]
    controller = good_log()                                  # ENAS: controller steps share a step
    for k in range(3):
        controller.insert(3, make_event("step", 0.25, step=0, epoch=0, phase="controller", loss=1.0))
    assert validate(controller) == []


def test_acc_is_a_fraction():
    log = good_log()
    log[2]["acc"] = 93.0
    assert validate(log) == ["event 3 (step): 'acc' is a fraction in [0, 1], got 93 (percent? divide by 100)"]
    log[0]["run_id"] = 7
    assert any("run_id" in p for p in validate(log))
