"""Sweeps: orchestration of the engine into results. Originals trained and
verified (`originals`), every (split, procedure) of a task run and recorded
(`sweep`), records validated (`records`), files written atomically
(`storage`), recipes checked (`tune`) and reruns compared (`reproduce`)."""
