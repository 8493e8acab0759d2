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
