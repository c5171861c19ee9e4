"""srun without torchrun shards the file list; torchrun's variables win; a batch script does not."""
import pytest

from sleepfm_engine.devices import Shard, shard_from_env

#: What ``srun -N2 --ntasks-per-node=2`` gives its fourth task (second task on the second node).
SRUN_TASK_3 = {"SLURM_PROCID": "3", "SLURM_NTASKS": "4", "SLURM_STEP_NUM_TASKS": "4",
               "SLURM_LOCALID": "1", "SLURM_STEP_ID": "0", "SLURM_JOB_ID": "77"}


def test_srun_task_variables_give_its_rank_world_size_and_local_gpu():
    shard = shard_from_env(SRUN_TASK_3)
    assert (shard.rank, shard.world_size, shard.local_rank, shard.launcher) == (3, 4, 1, "slurm")
    assert shard.active


def test_srun_tasks_split_the_files_disjointly_and_completely():
    files = [f"night{i}.edf" for i in range(11)]
    parts = [shard_from_env({**SRUN_TASK_3, "SLURM_PROCID": str(r)}).take(files) for r in range(4)]
    assert sorted(f for part in parts for f in part) == sorted(files)
    assert sum(len(p) for p in parts) == len(files)


def test_torchrun_variables_take_precedence_over_slurm_under_srun_torchrun():
    env = {**SRUN_TASK_3, "RANK": "5", "WORLD_SIZE": "8", "LOCAL_RANK": "3"}
    shard = shard_from_env(env)
    assert (shard.rank, shard.world_size, shard.local_rank, shard.launcher) == (5, 8, 3, "torchrun")


def test_a_batch_script_outside_srun_is_one_process_doing_every_file():
    # sbatch --ntasks=4 runs its script as task 0 with the allocation's count but no step.
    batch = {"SLURM_PROCID": "0", "SLURM_NTASKS": "4", "SLURM_LOCALID": "0", "SLURM_JOB_ID": "77"}
    shard = shard_from_env(batch)
    assert shard == Shard(0, 1, None) and not shard.active
    assert shard.take(list(range(5))) == list(range(5))


def test_a_single_task_srun_step_does_not_shard():
    shard = shard_from_env({"SLURM_PROCID": "0", "SLURM_NTASKS": "1", "SLURM_STEP_NUM_TASKS": "1"})
    assert not shard.active and shard.take([1, 2, 3]) == [1, 2, 3]


def test_the_step_task_count_is_used_rather_than_the_allocation_count():
    env = {"SLURM_PROCID": "1", "SLURM_NTASKS": "8", "SLURM_STEP_NUM_TASKS": "2"}
    assert shard_from_env(env).world_size == 2


@pytest.mark.parametrize("env, match", [
    ({**SRUN_TASK_3, "SLURM_PROCID": "4"}, "SLURM_PROCID=4 is not in 0..SLURM_STEP_NUM_TASKS-1"),
    ({**SRUN_TASK_3, "SLURM_PROCID": "x"}, "SLURM_PROCID='x' is not an integer"),
    ({**SRUN_TASK_3, "SLURM_LOCALID": "one"}, "SLURM_LOCALID='one' is not an integer"),
    ({**SRUN_TASK_3, "SLURM_STEP_NUM_TASKS": "0"}, "SLURM_STEP_NUM_TASKS=0"),
])
def test_malformed_slurm_variables_are_refused_naming_the_variable(env, match):
    with pytest.raises(ValueError, match=match):
        shard_from_env(env)
