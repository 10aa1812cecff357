"""Crash-test harness for the durable (SQLite) store.

A worker process (:mod:`tests.crash.worker`) runs one multi-step workflow
(:mod:`tests.crash.workflow`) on a state file with the real clock; the parent
(:mod:`tests.crash.harness`) SIGKILLs it at random points, restarts it on the same state file
until the instance completes, and checks the outcome against an uninterrupted run using a side
journal that the workflow's callbacks write independently of the emulator
(:mod:`tests.crash.journal`) and raw reads of the state file (:mod:`tests.crash.state`).
"""
