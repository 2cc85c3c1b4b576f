"""Command building and output parsing of the Slurm and Grid Engine executors, on captured output.

Every literal below was captured from Slurm 22.05 / Son of Grid Engine 8.1.9 (Debian bookworm) started
by scripts/slurm-up and scripts/sge-up; no batch system is needed to run these tests.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from globalhs.executors import sge, slurm
from globalhs.executors.base import BatchError, JobSpec, JobState
from globalhs.executors.command import CommandResult, is_transient

# --- Slurm ---------------------------------------------------------------------------------------

SQUEUE_MIXED = """\
16|subt.c.0-3lab|CANCELLED|None|36608|
17_1|subt.6400.64~.0-300lab|PENDING|JobArrayTaskLimit|0|
17_2|subt.6400.64~.0-300lab|PENDING|JobArrayTaskLimit|0|
15|subt.t.0-3lab|TIMEOUT|TimeLimit|15|
17_0|subt.6400.64~.0-300lab|RUNNING|None|0|
1|subt.1.1.0-300lab|FAILED|NonZeroExitCode|768|
2_2|subt.arr|COMPLETED|None|0|
10|subt.1.0.0-300lab|PENDING|Priority|0|
"""


def test_parse_squeue_states_exit_codes_and_names():
    got = slurm.parse_squeue(SQUEUE_MIXED)
    assert got["16"].state is JobState.CANCELLED and got["16"].exit_code == 143      # 36608 = 143 << 8
    assert got["17_1"].state is JobState.PENDING and got["17_1"].reason == "JobArrayTaskLimit"
    assert got["17_1"].exit_code is None
    assert got["15"].state is JobState.TIMEOUT and got["15"].exit_code == 128 + 15    # killed by SIGTERM
    assert got["17_0"].state is JobState.RUNNING and got["17_0"].name == "subt.6400.64~.0-300lab"
    assert got["1"].state is JobState.FAILED and got["1"].exit_code == 3 and got["1"].reason == "NonZeroExitCode"
    assert got["2_2"].state is JobState.COMPLETED and got["2_2"].exit_code == 0 and got["2_2"].reason == ""
    assert got["10"].reason == "Priority"
    assert len(got) == 8


def test_parse_squeue_name_with_separator_and_empty_output():
    got = slurm.parse_squeue("5|a|b|RUNNING|None|0|\n")
    assert got["5"].name == "a|b" and got["5"].state is JobState.RUNNING
    assert slurm.parse_squeue("") == {}


def test_parse_squeue_rejects_a_foreign_format():
    with pytest.raises(BatchError, match="unexpected squeue line"):
        slurm.parse_squeue("JOBID PARTITION NAME\n")


def test_squeue_invalid_id_means_none_known():
    """`squeue -j 123456` of a forgotten job: exit 1 and this message; all requested ids are unknown."""
    res = CommandResult(["squeue"], 1, "", "slurm_load_jobs error: Invalid job id specified\n")
    assert slurm.squeue_accept(res)
    assert not slurm.squeue_accept(CommandResult(["squeue"], 1, "", "squeue: error: Invalid user: x\n"))


@pytest.mark.parametrize("word, state", [
    ("PENDING", JobState.PENDING), ("COMPLETING", JobState.RUNNING), ("CANCELLED by 0", JobState.CANCELLED),
    ("OUT_OF_MEMORY", JobState.OUT_OF_MEMORY), ("NODE_FAIL", JobState.NODE_FAIL), ("BOOT_FAIL", JobState.NODE_FAIL),
    ("PREEMPTED", JobState.PREEMPTED), ("DEADLINE", JobState.TIMEOUT), ("REQUEUED", JobState.PENDING),
    ("COMPLETED", JobState.COMPLETED), ("NEVER_HEARD_OF", JobState.UNKNOWN), ("", JobState.UNKNOWN),
])
def test_slurm_state_words(word, state):
    assert slurm.state_of(word) is state


SACCT = """\
155|subt.1.1.0-300lab|FAILED|3:0
157|subt.c|CANCELLED by 0|0:0
158|subt.t|TIMEOUT|0:0
156_0|subt.6400.64~.0-300lab|COMPLETED|0:0
156_3|subt.6400.64~.0-300lab|RUNNING|0:0
156_[1-3%1]|subt.6400.64~.0-300lab|PENDING|0:0
"""


def test_parse_sacct_shapes():
    # captured with GLOBALHS_SLURM_ACCOUNTING=1 scripts/slurm-up (slurmdbd + MariaDB)
    got = slurm.parse_sacct(SACCT)
    assert got["155"].state is JobState.FAILED and got["155"].exit_code == 3
    assert got["157"].state is JobState.CANCELLED and got["157"].reason == "CANCELLED by 0"
    assert got["158"].state is JobState.TIMEOUT and got["158"].name == "subt.t"
    assert got["156_0"].state is JobState.COMPLETED and got["156_0"].exit_code == 0
    assert got["156_3"].state is JobState.RUNNING and got["156_3"].exit_code is None
    assert "156_[1-3%1]" not in got and len(got) == 5
    assert slurm.parse_sacct("") == {}
    # a signal in ExitCode (documented form code:signal) becomes 128 + signal
    assert slurm.parse_sacct("9|x|CANCELLED by 0|0:15\n")["9"].exit_code == 128 + 15
    with pytest.raises(BatchError, match="unexpected sacct line"):
        slurm.parse_sacct("garbage\n")


class CannedRunner:
    """A CommandRunner stand-in answering each program with a captured output; records the calls."""

    def __init__(self, answers: dict[str, str]):
        self.answers, self.calls = answers, []
        from collections import Counter
        self.counts = Counter()

    def run(self, argv, *, input=None, accept=None):
        self.calls.append(list(argv))
        self.counts[argv[0]] += 1
        return CommandResult(list(argv), 0, self.answers[argv[0]], "")


def test_slurm_poll_asks_sacct_only_for_what_squeue_forgot():
    runner = CannedRunner({
        "scontrol": "AccountingStorageType   = accounting_storage/slurmdbd\nMaxArraySize = 1001\n",
        "squeue": "156_3|subt.6400.64~.0-300lab|RUNNING|None|0|\n",
        "sacct": SACCT})
    ex = slurm.SlurmExecutor(runner=runner, user="root")
    got = ex.poll(["156_3", "155", "158", "4242"])
    assert got["156_3"].state is JobState.RUNNING                     # from squeue
    assert got["155"].state is JobState.FAILED and got["158"].state is JobState.TIMEOUT   # from sacct
    assert got["4242"].state is JobState.UNKNOWN
    sacct_call = [c for c in runner.calls if c[0] == "sacct"]
    assert len(sacct_call) == 1 and "--jobs=155,158,4242" in sacct_call[0]
    assert runner.counts["squeue"] == 1
    # without accounting: squeue only
    runner = CannedRunner({"scontrol": "AccountingStorageType = accounting_storage/none\n",
                           "squeue": "", "sacct": SACCT})
    got = slurm.SlurmExecutor(runner=runner, user="root").poll(["155"])
    assert got["155"].state is JobState.UNKNOWN and runner.counts["sacct"] == 0


def test_parse_sbatch():
    assert slurm.parse_sbatch("17\n") == "17"
    assert slurm.parse_sbatch("17;cluster2\n") == "17"
    with pytest.raises(BatchError, match="expected a job id"):
        slurm.parse_sbatch("")


def test_sbatch_errors_are_permanent_or_transient_as_they_should_be():
    # captured: a wrong partition and an impossible memory request must fail at once
    assert not is_transient("sbatch: error: invalid partition specified: nosuch\n"
                            "sbatch: error: Batch job submission failed: Invalid partition name specified")
    assert not is_transient("sbatch: error: Memory specification can not be satisfied\n"
                            "sbatch: error: Batch job submission failed: Requested node configuration is not available")
    # documented messages of a busy controller or a submit limit: back off and retry
    assert is_transient("sbatch: error: Batch job submission failed: Socket timed out on send/recv operation")
    assert is_transient("squeue: error: slurm_receive_msg: Socket timed out on send/recv operation")
    assert is_transient("sbatch: error: Slurm temporarily unable to accept job, sleeping and retrying")
    assert is_transient("sbatch: error: QOSMaxSubmitJobPerUserLimit")
    assert is_transient("sbatch: error: Batch job submission failed: Job violates accounting/QOS policy "
                        "(job submit limit, user's size and/or time limits)")
    assert is_transient("squeue: error: Unable to contact slurm controller (connect failure)")


def _job(tmp_path, **kw) -> JobSpec:
    base = dict(name="subt.6400.6400.0-300mdivw72d", script=tmp_path / "s.sh", workdir=tmp_path,
                stdout=tmp_path / "o.out")
    return JobSpec(**{**base, **kw})


def test_sbatch_command_carries_queue_limits_and_site_options(tmp_path):
    job = _job(tmp_path, queue="j.q", time_limit_s=5400, memory_mb=4096, extra=("--account=helio",))
    argv = slurm.sbatch_single(job)
    assert argv[:2] == ["sbatch", "--parsable"]
    assert "--job-name=subt.6400.6400.0-300mdivw72d" in argv
    assert "--partition=j.q" in argv and "--time=1:30:00" in argv and "--mem=4096M" in argv
    assert "--account=helio" in argv and f"--chdir={tmp_path}" in argv
    arr = slurm.sbatch_array([job, job, job], "subt.~.x", "/w/wrap.sh", 2)
    assert "--array=0-2%2" in arr and arr[-1] == "/w/wrap.sh" and "--job-name=subt.~.x" in arr
    assert "--array=0-2" in slurm.sbatch_array([job] * 3, "n", "/w", None)


def test_squeue_commands_batch_all_ids_in_one_call():
    argv = slurm.squeue_command(["17_0", "17_1", "17_2", "16", "15"])
    assert "--jobs=17,16,15" in argv and "--states=all" in argv and "--array" in argv
    assert "--user=alice" in slurm.squeue_user_command("alice")


def test_parse_config():
    text = ("Configuration data as of 2026-11-21T06:46:36\n"
            "AccountingStorageBackupHost = (null)\n"
            "AccountingStorageType   = accounting_storage/none\n"
            "MaxArraySize            = 20001\n")
    cfg = slurm.parse_config(text)
    assert cfg["AccountingStorageType"] == "accounting_storage/none" and cfg["MaxArraySize"] == "20001"


# --- Grid Engine ---------------------------------------------------------------------------------

QSTAT_XML = """<?xml version='1.0'?>
<job_info  xmlns:xsd="http://arc.liv.ac.uk/repos/darcs/sge/source/dist/util/resources/schemas/qstat/qstat.xsd">
  <queue_info>
    <job_list state="running">
      <JB_job_number>1</JB_job_number>
      <JAT_prio>0.75000</JAT_prio>
      <JB_name>subt.1.1.0-300labelverylongname.x</JB_name>
      <JB_owner>root</JB_owner>
      <state>r</state>
      <JAT_start_time>2026-11-21T06:41:12</JAT_start_time>
      <queue_name>all.q@vm</queue_name>
      <slots>1</slots>
    </job_list>
    <job_list state="running">
      <JB_job_number>2</JB_job_number>
      <JAT_prio>0.25000</JAT_prio>
      <JB_name>subt.arr</JB_name>
      <JB_owner>root</JB_owner>
      <state>r</state>
      <JAT_start_time>2026-11-21T06:41:13</JAT_start_time>
      <queue_name>j.q@vm</queue_name>
      <slots>1</slots>
      <tasks>2</tasks>
    </job_list>
  </queue_info>
  <job_info>
    <job_list state="pending">
      <JB_job_number>2</JB_job_number>
      <JAT_prio>0.00000</JAT_prio>
      <JB_name>subt.arr</JB_name>
      <JB_owner>root</JB_owner>
      <state>qw</state>
      <JB_submission_time>2026-11-21T06:41:13</JB_submission_time>
      <queue_name></queue_name>
      <slots>1</slots>
      <tasks>3</tasks>
    </job_list>
    <job_list state="pending">
      <JB_job_number>19</JB_job_number>
      <JAT_prio>0.00000</JAT_prio>
      <JB_name>hold</JB_name>
      <JB_owner>root</JB_owner>
      <state>hqw</state>
      <JB_submission_time>2026-11-21T06:46:38</JB_submission_time>
      <queue_name></queue_name>
      <slots>1</slots>
      <tasks>1-3:1</tasks>
    </job_list>
    <job_list state="pending">
      <JB_job_number>20</JB_job_number>
      <JAT_prio>0.00000</JAT_prio>
      <JB_name>broken</JB_name>
      <JB_owner>root</JB_owner>
      <state>Eqw</state>
      <JB_submission_time>2026-11-21T06:46:38</JB_submission_time>
      <queue_name></queue_name>
      <slots>1</slots>
    </job_list>
  </job_info>
</job_info>
"""

QSTAT_EMPTY = """<?xml version='1.0'?>
<job_info  xmlns:xsd="http://arc.liv.ac.uk/repos/darcs/sge/source/dist/util/resources/schemas/qstat/qstat.xsd">
  <queue_info>
  </queue_info>
  <job_info>
  </job_info>
</job_info>
"""


def test_parse_qstat_xml():
    got = sge.parse_qstat_xml(QSTAT_XML)
    assert got["1"].state is JobState.RUNNING and got["1"].name == "subt.1.1.0-300labelverylongname.x"
    assert got["2.2"].state is JobState.RUNNING and got["2.3"].state is JobState.PENDING
    assert [got[f"19.{t}"].state for t in (1, 2, 3)] == [JobState.PENDING] * 3   # unexpanded range
    assert got["20"].state is JobState.FAILED and "qstat -j 20" in got["20"].reason
    assert len(got) == 7
    assert sge.parse_qstat_xml(QSTAT_EMPTY) == {}
    with pytest.raises(BatchError, match="not XML"):
        sge.parse_qstat_xml("error: commlib error: got select error (Connection refused)")


@pytest.mark.parametrize("code, state", [("qw", JobState.PENDING), ("hqw", JobState.PENDING),
                                         ("r", JobState.RUNNING), ("t", JobState.RUNNING),
                                         ("Rr", JobState.RUNNING), ("dr", JobState.RUNNING),
                                         ("Eqw", JobState.FAILED), ("", JobState.UNKNOWN)])
def test_sge_state_letters(code, state):
    assert sge.state_of(code) is state


ACCOUNTING = """\
# Version: 8.1.9
# 
# DO NOT MODIFY THIS FILE MANUALLY!
# 
all.q:vm:root:root:subt.arr:2:sge:0:1795243273:1795243273:1795243275:0:0:2:0.095045:0.045183:4668.000000:0:0:0:0:15135:0:0:0.000000:24:0:0:0:248:118:NONE:defaultdepartment:NONE:1:1:0.140228:0.000000:0.000598:NONE:0.000000:NONE:1777664.000000:0:0
all.q:vm:root:root:mlim:5:sge:0:1795243295:1795243295:1795243295:0:1:0:0.203120:0.132281:13464.000000:0:0:0:0:24600:0:0:0.000000:24:0:0:0:362:160:NONE:defaultdepartment:NONE:1:0:0.335401:0.000000:0.000000:-l h_vmem=50M:0.000000:NONE:0.000000:0:0
all.q:vm:root:root:tlim:4:sge:0:1795243295:1795243295:1795243298:37:137:3:0.124181:0.068414:4624.000000:0:0:0:0:15162:0:0:0.000000:24:0:0:0:256:117:NONE:defaultdepartment:NONE:1:0:0.192595:0.000000:0.000598:-l h_rt=2:0.000000:NONE:1802240.000000:0:0
all.q:vm:root:root:del:3:sge:0:1795243290:1795243290:1795243293:100:137:3:0.1:0.1:4624.000000:0:0:0:0:15162:0:0:0.000000:24:0:0:0:256:117:NONE:defaultdepartment:NONE:1:0:0.192595:0.000000:0.000598:NONE:0.000000:NONE:1802240.000000:0:0
"""


def test_parse_accounting():
    got = sge.parse_accounting(ACCOUNTING)
    assert got["2.1"].state is JobState.COMPLETED and got["2.1"].name == "subt.arr"
    assert got["5"].state is JobState.FAILED and got["5"].exit_code == 1
    assert got["4"].state is JobState.TIMEOUT and "h_rt 2" in got["4"].reason
    assert got["3"].state is JobState.CANCELLED and got["3"].exit_code == 137
    assert len(got) == 4


@pytest.mark.parametrize("failed, exit_status, category, wall, state", [
    (0, 0, "", 1, JobState.COMPLETED), (0, 3, "", 1, JobState.FAILED),
    (37, 137, "-l h_rt=2", 3, JobState.TIMEOUT), (37, 137, "-l h_rt=600,h_vmem=1G", 3, JobState.OUT_OF_MEMORY),
    (37, 137, "-l h_vmem=50M", 3, JobState.OUT_OF_MEMORY), (37, 137, "-l h_rt=0:1:0", 61, JobState.TIMEOUT),
    (100, 137, "", 3, JobState.CANCELLED), (26, 0, "", 0, JobState.NODE_FAIL), (100, 0, "", 0, JobState.NODE_FAIL),
])
def test_sge_classify(failed, exit_status, category, wall, state):
    assert sge.classify(failed, exit_status, category, wall)[0] is state


QACCT = """\
==============================================================
qname        all.q               
hostname     vm                  
group        root                
owner        root                
project      NONE                
department   defaultdepartment   
jobname      subt.1.1.0-300labelverylongname.x
jobnumber    1                   
taskid       undefined
account      sge                 
priority     0                   
qsub_time    Sat Nov 21 06:41:12 2026
start_time   Sat Nov 21 06:41:13 2026
end_time     Sat Nov 21 06:41:16 2026
granted_pe   NONE                
slots        1                   
failed       0    
exit_status  3                   
ru_wallclock 3s
cpu          0.150s
category     NONE
==============================================================
qname        all.q               
jobname      tlim
jobnumber    4                   
taskid       undefined
failed       37  : qmaster enforced h_rt, h_cpu, or h_vmem limit
exit_status  137                  (Killed)
ru_wallclock 3s
category     -l h_rt=2
==============================================================
jobname      subt.arr            
jobnumber    2                   
taskid       1                   
failed       100 : assumedly after job
exit_status  137                  (Killed)
ru_wallclock 2s
category     NONE
"""


def test_parse_qacct():
    got = sge.parse_qacct(QACCT)
    assert got["1"].state is JobState.FAILED and got["1"].exit_code == 3
    assert got["1"].name == "subt.1.1.0-300labelverylongname.x"
    assert got["4"].state is JobState.TIMEOUT
    assert got["2.1"].state is JobState.CANCELLED
    assert sge.parse_qacct("error: job id 99999 not found\n") == {}


def test_parse_qsub():
    assert sge.parse_qsub("1\n") == "1"
    assert sge.parse_qsub("2.1-6:1\n") == "2"
    with pytest.raises(BatchError, match="expected a job id"):
        sge.parse_qsub("Unable to run job: denied: \"1bad\" is not a valid object name (cannot start with a digit)\nExiting.\n")


def test_sge_errors_are_permanent_or_transient_as_they_should_be():
    assert not is_transient('Unable to run job: Job was rejected because job requests unknown queue "nosuch.q"\nExiting.')
    assert is_transient("error: commlib error: got select error (Connection refused)\n"
                        "unable to send message to qmaster using port 6444 on host \"vm\": got send error")
    assert is_transient("Unable to run job: job rejected: Only 100 jobs are allowed per user (current job count: 100)")


def test_qsub_and_qdel_commands(tmp_path):
    job = _job(tmp_path, queue="j.q", time_limit_s=5400, memory_mb=2048, extra=("-P", "helio"))
    argv = sge.qsub_single(job)
    assert argv[:2] == ["qsub", "-terse"] and argv[argv.index("-N") + 1] == job.name
    assert argv[argv.index("-q") + 1] == "j.q" and "h_rt=5400" in argv and "h_vmem=2048M" in argv
    assert argv[-1] == str(job.script) and "-P" in argv
    arr = sge.qsub_array([job] * 4, "subt.~.x", "/w/wrap.sh", 3)
    assert arr[arr.index("-t") + 1] == "1-4" and arr[arr.index("-tc") + 1] == "3"
    assert sge.qdel_command(["7", "12.3", "12.5"]) == ["qdel", "7", "12", "-t", "3-3", "12", "-t", "5-5"]
    res = CommandResult(["qdel"], 1, 'root has deleted job 7\ndenied: job "99999" does not exist\n', "")
    assert sge.qdel_accept(res)


def test_scancel_folds_array_tasks_into_ranges():
    ids = ["12_0", "12_1", "12_2", "12_7", "13", "14_5", "12_3", "13"]
    assert slurm.scancel_command(ids) == ["scancel", "13", "12_[0-3,7]", "14_5"]
    assert slurm.compress_ids([f"9_{k}" for k in range(10000)]) == ["9_[0-9999]"]
