import pytest

from robustbench_mllm.errors import FolderBusyError
from robustbench_mllm.runners.generate.plan import GenerateConfig
from robustbench_mllm.runners.generate.run import run_generate
from robustbench_mllm.store.locking import folder_lock


def test_second_writer_on_a_folder_is_refused_and_the_lock_is_released(tmp_path):
    with folder_lock(tmp_path, "generate"):
        with pytest.raises(FolderBusyError, match="another `robust-mllm evaluate` is writing here"):
            with folder_lock(tmp_path, "evaluate"):
                pass
    with folder_lock(tmp_path, "evaluate"):  # free again once the first writer is done
        pass


def test_generate_refuses_a_folder_another_generate_holds(tmp_path):
    out = tmp_path / "gen"
    with folder_lock(out, "generate"):
        with pytest.raises(FolderBusyError):
            run_generate(GenerateConfig(), out)
    assert not (out / "manifest.json").exists()


def test_a_failed_start_leaves_no_new_folder_behind(tmp_path):
    out = tmp_path / "gen"
    with pytest.raises(KeyError, match="Did you mean 'frost'"):
        run_generate(GenerateConfig(perturbations="forst"), out)
    assert not out.exists()


def test_a_failed_run_in_an_existing_folder_keeps_the_folder(tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(KeyError):
        run_generate(GenerateConfig(perturbations="forst"), tmp_path)
    assert (tmp_path / "keep.txt").read_text() == "mine"


def test_a_lock_held_by_another_process_is_refused_and_freed_when_it_dies(tmp_path):
    import subprocess
    import sys

    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path;"
         "from robustbench_mllm.store.locking import folder_lock\n"
         "with folder_lock(Path(sys.argv[1]), 'generate'):\n print('held', flush=True); time.sleep(60)", str(tmp_path)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(FolderBusyError, match="another `robust-mllm evaluate`"):
            with folder_lock(tmp_path, "evaluate"):
                pass
    finally:
        holder.kill()  # like kill -9: the OS drops the lock
        holder.wait()
    with folder_lock(tmp_path, "evaluate"):
        pass


def test_the_package_imports_without_posix_only_fcntl():
    import subprocess
    import sys
    from pathlib import Path

    code = ("import sys; sys.modules['fcntl'] = None\n"
            "import robustbench_mllm.store.locking, robustbench_mllm.runners.generate.run, robustbench_mllm.cli.app")
    subprocess.run([sys.executable, "-c", code], check=True)
    package = Path(__file__).resolve().parents[2] / "robustbench_mllm"
    assert not [p for p in package.rglob("*.py") if "import fcntl" in p.read_text(encoding="utf-8")]
