"""evaluate's progress bar shows items per second and the time left."""

from rich.console import Console
from rich.progress import Progress

from robustbench_mllm.runners.evaluate.run import progress_columns


def test_the_bar_shows_items_per_second_and_an_eta() -> None:
    now = [0.0]
    console = Console(record=True, width=120)
    progress = Progress(*progress_columns(), console=console, auto_refresh=False, get_time=lambda: now[0])
    task = progress.add_task("tiny_pope/clean", total=100)
    progress.start_task(task)
    for _ in range(4):  # 5 items per second
        now[0] += 1.0
        progress.advance(task, 5)
    console.print(progress.make_tasks_table(progress.tasks))
    line = console.export_text()
    assert "tiny_pope/clean" in line and "20/100" in line
    assert "5.00 items/s" in line and "ETA 0:00:16" in line  # 80 items left at 5 per second
