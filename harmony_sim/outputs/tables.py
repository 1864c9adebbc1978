"""The run's CSV tables, written at the end: rounds, participation per tier, each participant's
outcome, per-client final metrics and the architecture each tier runs."""

from __future__ import annotations

from harmony_sim.devices.report import ARCHITECTURE_COLUMNS, ARCHITECTURES_FILE
from harmony_sim.outputs.base import RunEnd, RunOutput
from harmony_sim.participation import COUNT_COLUMNS
from harmony_sim.results.run_directory import (
    CLIENTS_FILE,
    PARTICIPANTS_FILE,
    PARTICIPATION_FILE,
    ROUNDS_FILE,
)

ROUND_COLUMNS = ("round", "participants", "samples", "exit_loss", "server_loss",
                 "uplink_mb", "downlink_mb", "compute_s", "wall_s", "device_s", "device_max_s",
                 *COUNT_COLUMNS, "round_time_s", "actor_failures", "failed_clients",
                 "eval_s", "checkpoint_s")
PARTICIPATION_COLUMNS = ("round", "tier", *COUNT_COLUMNS)
PARTICIPANT_COLUMNS = ("round", "client_id", "tier", "outcome", "time_s")


class RunTables(RunOutput):
    def run_finished(self, end: RunEnd) -> None:
        out = end.run_dir
        out.write_table(CLIENTS_FILE, list(end.client_metrics[0]), end.client_metrics)
        out.write_table(ROUNDS_FILE, ROUND_COLUMNS, end.rows[1:])
        out.write_table(PARTICIPATION_FILE, PARTICIPATION_COLUMNS, end.tier_rows)
        out.write_table(PARTICIPANTS_FILE, PARTICIPANT_COLUMNS, end.client_rows)
        out.write_table(ARCHITECTURES_FILE, ARCHITECTURE_COLUMNS,
                        end.summary["architectures"])
