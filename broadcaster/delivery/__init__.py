"""Delivery: batches from the outbox to LINE.

`port` is the seam (a `Sender` takes one batch and says what LINE answered); `line` is the
real sender (line-bot-sdk, paced to LINE's limits); `fake` is ours for tests of the loop;
`answers` classifies LINE's answers, `retry` decides what happens next, `claims` is the
batch table's side (claim, record), `gate` is the emergency lane, and `worker` runs it all.
"""
