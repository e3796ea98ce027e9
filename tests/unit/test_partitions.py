"""Partitions of a hot subject (processor/runtime/partitions.py, `slo validate --partitions`): the
flags, the stream transform, which SLIs can be split and why not, each partition's part and filter
subjects, the partition's time moves and its replay's share. (On a real nats-server:
tests/integration/test_partitions_nats.py and test_partitions_replay.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from processor.cli import main
from processor.config.load import load_config, load_config_text
from processor.errors import ProcessorError
from processor.runtime.partitions import (Partition, intersect, parse_partition, parse_partition_by,
                                          partition_from_args, partition_instance, partition_part,
                                          partition_problems, split_config)
from processor.runtime.topology import filter_subjects, services_config
from tests.partitionkit import CONFIG_YAML, write_config, write_streams

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = load_config(ROOT / "config" / "slo.yaml")
KEY = parse_partition_by("market.quote.{symbol}")
SMALL = load_config_text(CONFIG_YAML.format(catalogues=ROOT / "config" / "burn-rates.yaml"))


def test_the_partition_by_subject_names_its_key_token_and_gives_the_stream_transform():
    assert ("market.quote.*", "symbol", 2, 1) == (KEY.published, KEY.label, KEY.key_index, KEY.wildcard)
    assert ("market.quote.*.*", "market.quote.>", "market.quote.*.1") == (KEY.stored, KEY.family, KEY.filter(1))
    assert {"src": "market.quote.*", "dest": "market.quote.{{wildcard(1)}}.{{partition(4,1)}}"} == KEY.transform(4)
    other = parse_partition_by("trade.*.order.{account}")
    assert {"src": "trade.*.order.*", "dest": "trade.{{wildcard(1)}}.order.{{wildcard(2)}}.{{partition(2,2)}}"} \
        == other.transform(2)
    assert "trade.*.order.{account}" == str(other)


@pytest.mark.parametrize("text", ["market.quote.*", "market.{a}.{b}", "market.quote.>", "market.quote.{sym bol}",
                                  "market..{symbol}", "market.q{symbol}"])
def test_a_partition_by_subject_without_exactly_one_key_token_is_refused(text):
    with pytest.raises(ValueError, match="market.quote.{symbol}"):
        parse_partition_by(text)


@pytest.mark.parametrize(("text", "expected"), [("0/2", (0, 2)), ("3/4", (3, 4)), (" 1/2 ", (1, 2))])
def test_partition_i_of_n(text, expected):
    assert expected == parse_partition(text)


@pytest.mark.parametrize("text", ["2/2", "0/1", "1", "-1/2", "a/b", "0/5000"])
def test_a_partition_outside_0_to_n_minus_1_is_refused(text):
    with pytest.raises(ValueError):
        parse_partition(text)


@pytest.mark.parametrize(("a", "b", "expected"), [
    ("market.quote.>", "market.quote.*.0", "market.quote.*.0"),
    ("market.quote.AAPL.*", "market.quote.*.0", "market.quote.AAPL.0"),
    ("market.>", "market.quote.*.*", "market.quote.*.*"),
    ("market.request", "market.quote.*.0", None),
    ("market.quote.*", "market.quote.*.*", None),
    ("a.*.c", "a.b.*", "a.b.c"),
    ("a.>", "a", None),
    ("a.>", "b.>", None),
])
def test_the_intersection_of_two_subject_patterns(a, b, expected):
    assert expected == intersect(a, b) == intersect(b, a)


def test_the_catalogue_cannot_be_split_by_symbol_and_validate_names_each_sli_and_why():
    expected = [
        "SLI market_quote_freshness: SLO market_data_freshness counts every series of the SLI in one error budget",
        "SLI market_quote_freshness: SLO sla_data_freshness counts every series of the SLI in one error budget",
        "SLI capacity_market_messages: reads market.>, which holds other subjects besides the partitioned",
    ]
    problems = partition_problems(CATALOGUE, KEY)
    assert expected == [p[:len(e)] for p, e in zip(problems, expected)] and len(expected) == len(problems)


def _with_sli(extra: str) -> str:
    return CONFIG_YAML.format(catalogues=ROOT / "config" / "burn-rates.yaml").replace("slis:\n", "slis:\n" + extra, 1)


@pytest.mark.parametrize(("sli", "why"), [
    pytest.param("  q:\n    service: m\n    kind: events\n    subject: market.quote.>\n",
                 "SLI q: has no label symbol (labels: none): its series would gather events of every partition",
                 id="no key label"),
    pytest.param("  q:\n    service: m\n    kind: events\n    subject: market.quote.>\n    labels: [venue]\n",
                 "SLI q: has no label symbol (labels: venue)", id="another label"),
    pytest.param("  q:\n    service: m\n    kind: events\n    subject: market.quote.*\n    labels: [symbol]\n",
                 "SLI q: reads market.quote.*, but the stream stores the partitioned subject as market.quote.*.*",
                 id="the published subject, which is no longer stored"),
    pytest.param("  q:\n    service: m\n    kind: events\n    subject: market.*.*.*\n    labels: [symbol]\n",
                 "SLI q: reads market.*.*.*, which holds other subjects", id="a wider subject"),
])
def test_an_sli_whose_series_would_span_partitions_is_named_with_the_reason(sli, why):
    problems = partition_problems(load_config_text(_with_sli(sli)), KEY)
    assert 1 == len(problems) and problems[0].startswith(why), problems


def test_an_sli_whose_subject_fixes_the_key_needs_no_key_label():
    sli = "  q:\n    service: m\n    kind: events\n    subject: market.quote.AAPL.*\n"
    assert [] == partition_problems(load_config_text(_with_sli(sli)), KEY)


def test_partition_0_evaluates_the_rest_and_every_partition_its_share_of_the_hot_subject():
    p0, p1 = (partition_part(SMALL, Partition(KEY, i, 2)) for i in (0, 1))
    assert ["quote_freshness", "quote_age", "quote_request_latency", "request_outcomes"] == [s.name for s in p0.slis]
    assert ["quote_freshness", "quote_age"] == [s.name for s in p1.slis]
    assert (2, 4, 0, 3) == (len(p0.slos), len(p0.alerts), len(p1.slos), len(p1.alerts))
    assert ["market.quote.*.0", "market.request"] == filter_subjects(p0, Partition(KEY, 0, 2))
    assert ["market.quote.*.1"] == filter_subjects(p1, Partition(KEY, 1, 2))


def test_every_instance_keeps_the_input_slis_and_labels_its_input_by_partition():
    part = split_config(services_config(CATALOGUE, ["api-gateway"]), Partition(KEY, 1, 3))
    assert ["input_messages", "input_messages_by_sli"] == [s.name for s in part.slis]
    assert "MARKET/1" == Partition(KEY, 1, 3).label("MARKET")


def test_instance_names_and_the_two_flags_together():
    p = Partition(KEY, 1, 2)
    assert ("p1of2", "sc_api-gateway_p1of2") == (partition_instance("default", p), partition_instance("sc_api-gateway", p))
    assert p == partition_from_args("1/2", "market.quote.{symbol}")
    assert None is partition_from_args(None, None)
    with pytest.raises(ProcessorError, match="go together"):
        partition_from_args("1/2", None)
    with pytest.raises(ProcessorError, match="cannot be partitioned:\n  SLI market_quote_freshness"):
        split_config(CATALOGUE, p)


def test_validate_partitions_prints_the_transform_and_each_partition_or_every_reason(tmp_path, capsys):
    config, streams = write_config(tmp_path), write_streams(tmp_path, 2)
    assert 0 == main(["validate", str(config), "--partitions", "2", "--partition-by", "market.quote.{symbol}",
                      "--streams-dir", str(streams)])
    out = capsys.readouterr().out
    assert 'stream MARKET: has {"subject_transform": {"src": "market.quote.*", "dest": ' in out
    assert (f"partition 1: `slo run --config {config} --streams-dir {streams} --partition 1/2 --partition-by "
            f"'market.quote.{{symbol}}'`: instance p1of2") in out
    assert "  MARKET: durable slo_p1of2_market, filter_subjects market.quote.*.1\n" in out
    assert 0 == main(["validate", str(config), "--partitions", "3", "--partition-by", "market.quote.{symbol}",
                      "--streams-dir", str(streams)])
    assert "stream MARKET: needs" in capsys.readouterr().out  # the file's transform is for 2
    assert 1 == main(["validate", str(ROOT / "config" / "slo.yaml"), "--partitions", "2", "--partition-by",
                      "market.quote.{symbol}", "--services", "market-data"])
    err = capsys.readouterr().err
    assert "SLI market_quote_freshness: SLO market_data_freshness counts every series" in err
    assert 1 == main(["validate", str(config), "--partition-by", "market.quote.{symbol}"])
    assert "--partitions N and --partition-by SUBJECT go together" in capsys.readouterr().err


def test_a_partitions_time_move_names_it_in_subject_id_and_body_and_an_unpartitioned_one_is_unchanged():
    from processor.replay.run import clock_move
    from processor.runtime.render import clock_message

    tag = Partition(KEY, 1, 2).tag
    assert "p1of2" == tag and "p1of2" == partition_instance("default", Partition(KEY, 1, 2))
    subject, payload, msg_id = clock_message("MARKET", 1_700_000_010_000, 42, tag)
    assert ("slo.clock.MARKET.p1of2", "clock-MARKET-p1of2-1700000010000") == (subject, msg_id)
    assert ("MARKET", "p1of2", (42, 1_700_000_010_000)) == clock_move(payload)
    # Partition 0's move at the same boundary: another message, not a duplicate of this one.
    assert msg_id != clock_message("MARKET", 1_700_000_010_000, 40, "p0of2")[2]
    subject, payload, msg_id = clock_message("MARKET", 1_700_000_010_000, 42)
    assert ("slo.clock.MARKET", "clock-MARKET-1700000010000") == (subject, msg_id)
    assert ("MARKET", None, (42, 1_700_000_010_000)) == clock_move(payload)


def test_a_partitions_replay_reads_only_what_its_consumer_is_delivered(tmp_path):
    import orjson

    from processor.bus.streams import load_stream_definitions
    from processor.replay.run import Replay
    from processor.replay.stored import StoredMsg

    definitions = load_stream_definitions(write_streams(tmp_path, 2))
    quote = {"symbol": "AAPL", "ts": "2026-11-30T12:00:01Z", "quote_ts": "2026-11-30T12:00:00.900Z", "bid": 1.0}
    request = {"op": "get_quote", "status": "ok", "latency_ms": 3, "ts": "2026-11-30T12:00:01Z"}
    msgs = [StoredMsg("MARKET", seq, 1_795_000_000_000, subject, orjson.dumps(body)) for seq, (subject, body) in
            enumerate([("market.quote.AAPL.1", quote), ("market.quote.NVDA.0", {**quote, "symbol": "NVDA"}),
                       ("market.request", request), ("market.quote.MSFT.1", {**quote, "symbol": "MSFT"})], 1)]
    expected = {0: [2, 3], 1: [1, 4], None: [1, 2, 3, 4]}  # the sequences each one's consumer delivers
    for index, seqs in expected.items():
        partition = None if index is None else Partition(KEY, index, 2)
        config = SMALL if partition is None else split_config(SMALL, partition)
        replay = Replay(config, definitions, lambda out: None, partition=partition)
        fed: list[int] = []
        lane = replay.streams["MARKET"]
        feed = lane.feed
        lane.feed = lambda batch, feed=feed: (fed.extend(m.seq for m in batch), feed(batch))  # type: ignore[method-assign]
        replay.feed("MARKET", msgs)
        assert seqs == fed, index
        assert (len(seqs), "MARKET" if partition is None else f"MARKET/{index}") == (lane.tally.messages,
                                                                                       lane.engine.input.stream)


def test_with_a_stream_per_partition_each_partition_reads_its_own_stream_whole(tmp_path, capsys):
    from processor.bus.streams import load_stream_definitions
    from processor.runtime.partitions import own_stream
    from processor.runtime.topology import consumer_filter, partition_config
    from tests.partitionkit import write_partition_streams

    definitions = load_stream_definitions(write_partition_streams(tmp_path, 2))
    shared = load_stream_definitions(write_streams(tmp_path, 2))
    p0, p1 = Partition(KEY, 0, 2), Partition(KEY, 1, 2)
    assert ("MARKET_P0", "MARKET_P1", None) == (own_stream(definitions, p0), own_stream(definitions, p1),
                                                own_stream(shared, p0))
    assert {"market.quote.*": "market.quote.{{wildcard(1)}}.{{partition(2,1)}}"} == KEY.mapping(2)
    for partition, lanes in ((p0, {"MARKET": {"quote_request_latency", "request_outcomes"},
                                   "MARKET_P0": {"quote_freshness", "quote_age"}}),
                             (p1, {"MARKET_P1": {"quote_freshness", "quote_age"}})):
        parts, orphans = partition_config(split_config(SMALL, partition), definitions, partition)
        assert ([], lanes) == (orphans, {name: {s.name for s in part.slis} for name, part in parts.items()})
        filters = {name: consumer_filter(name, part, definitions, partition, by_slis=False)
                   for name, part in parts.items()}
        # Its own stream unfiltered; MARKET (the other market subjects) filtered to what it reads.
        assert {**{f"MARKET_P{partition.index}": None}, **({"MARKET": ["market.request"]} if partition.index == 0
                                                           else {})} == filters
    # A shared stream with the transform: filtered to the partition's share, as before.
    parts, _ = partition_config(split_config(SMALL, p1), shared, p1)
    assert ["market.quote.*.1"] == consumer_filter("MARKET", parts["MARKET"], shared, p1, by_slis=False)
    assert 0 == main(["validate", str(write_config(tmp_path)), "--streams-dir", str(tmp_path / "streams-per-partition"),
                      "--partitions", "2", "--partition-by", "market.quote.{symbol}"])
    out = capsys.readouterr().out
    assert "MARKET_P1: durable slo_p1of2_market_p1, unfiltered" in out
    assert '"market.quote.{{wildcard(1)}}.{{partition(2,1)}}"' in out and "mappings" in out


def test_with_the_rest_apart_the_partitions_take_the_hot_slis_alone_and_rest_the_others(tmp_path, capsys):
    from processor.runtime.partitions import REST, Rest, rest_part, share_from_args

    assert Rest(KEY) == share_from_args("rest", "market.quote.{symbol}")
    assert Partition(KEY, 0, 2, True) == share_from_args("0/2", "market.quote.{symbol}", rest_apart=True)
    assert (REST, "rest", "sc_market-data_rest") == (Rest(KEY).tag, partition_instance("default", Rest(KEY)),
                                                     partition_instance("sc_market-data", Rest(KEY)))
    for bad in (("rest", None, False), (None, None, True)):
        with pytest.raises(ProcessorError):
            share_from_args(*bad)
    hot, rest = {"quote_freshness", "quote_age"}, {"quote_request_latency", "request_outcomes"}
    parts = {i: {s.name for s in split_config(SMALL, Partition(KEY, i, 2, True)).slis} for i in (0, 1)}
    assert {0: hot, 1: hot} == parts
    assert {0: hot | rest, 1: hot} == {i: {s.name for s in split_config(SMALL, Partition(KEY, i, 2)).slis}
                                       for i in (0, 1)}
    left = rest_part(SMALL, KEY)
    assert rest == {s.name for s in left.slis}
    assert {s.name for s in SMALL.slos} == {s.name for s in left.slos}
    assert {"QuoteRequestSlow"} == {a.name for a in left.alerts}
    # Partition 0's durable then reads its quotes alone (one filter subject).
    p0 = split_config(SMALL, Partition(KEY, 0, 2, True))
    assert ["market.quote.*.0"] == filter_subjects(p0, Partition(KEY, 0, 2, True))
    assert 0 == main(["validate", str(write_config(tmp_path)), "--streams-dir", str(write_streams(tmp_path, 2)),
                      "--partitions", "2", "--partition-by", "market.quote.{symbol}", "--rest-apart"])
    out = capsys.readouterr().out
    assert "--partition rest --partition-by 'market.quote.{symbol}'`: instance rest" in out
    assert "MARKET: durable slo_rest_market, filter_subjects market.request" in out


def test_the_shipped_example_is_this_config_and_validate_prints_its_transform(capsys):
    from tests.partitionkit import EXAMPLE

    body = "\n".join(line for line in EXAMPLE.read_text().splitlines() if not line.startswith("#")) + "\n"
    assert CONFIG_YAML.format(catalogues="../config/burn-rates.yaml") == body  # README's, the tests' config
    assert 0 == main(["validate", str(EXAMPLE), "--partitions", "2", "--partition-by", "market.quote.{symbol}"])
    assert ('stream MARKET: needs {"subject_transform": {"src": "market.quote.*", '
            '"dest": "market.quote.{{wildcard(1)}}.{{partition(2,1)}}"}}') in capsys.readouterr().out


def test_a_partition_refuses_to_start_on_a_stream_without_its_transform(tmp_path):
    """`slo run --partition 0/2` on the shipped streams/ (no transform): the quotes would be stored
    as market.quote.AAPL and never reach the filter market.quote.*.0; the start is refused."""
    from processor.bus.streams import load_stream_definitions
    from processor.runtime.partitions import transform_missing
    from tests.partitionkit import write_partition_streams

    partition = Partition(parse_partition_by("market.quote.{symbol}"), 0, 2)
    missing = transform_missing(load_stream_definitions(ROOT / "streams"), partition)
    assert missing is not None and missing.startswith(
        "stream MARKET stores market.quote.* without the partition token that partition 0's filter market.quote.*.0 "
        "asks for")
    assert '"dest": "market.quote.{{wildcard(1)}}.{{partition(2,1)}}"' in missing
    assert None is transform_missing(load_stream_definitions(write_streams(tmp_path, 2)), partition)
    assert None is transform_missing(load_stream_definitions(write_partition_streams(tmp_path, 2)), partition)
    two = tmp_path / "two"
    two.mkdir()
    # The transform for 2 partitions is not that for 3.
    assert transform_missing(load_stream_definitions(write_streams(two, 2)), Partition(partition.key, 0, 3)) is not None


def test_the_slo_run_commands_validate_prints_name_the_config_and_streams_it_read(tmp_path, capsys):
    from tests.partitionkit import EXAMPLE

    assert 0 == main(["validate", str(EXAMPLE), "--partitions", "2", "--partition-by", "market.quote.{symbol}"])
    assert f"partition 1: `slo run --config {EXAMPLE} --partition 1/2 --partition-by" in capsys.readouterr().out
    streams = write_streams(tmp_path, 2)
    assert 0 == main(["validate", str(EXAMPLE), "--streams-dir", str(streams), "--partitions", "2",
                      "--partition-by", "market.quote.{symbol}", "--rest-apart"])
    assert f"the rest: `slo run --config {EXAMPLE} --streams-dir {streams} --partition rest" in capsys.readouterr().out
