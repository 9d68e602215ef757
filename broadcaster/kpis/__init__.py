"""The figures a city reports each fiscal year, computed from the system's own rows.

friends (follow history), deliveries (broadcasts and batches), blocks (blocks attributed to
the broadcast received just before), surveys (5-point answers by postback or one-time link),
insight (LINE's own per-unit and follower statistics) and report (all of them against the
city's targets). Every figure that counts residents goes through `suppression.shown`.
"""
