"""Every command and option a user can type is documented in the README."""

from __future__ import annotations

from pathlib import Path

from jupyter_tracker.cli import cli
from jupyter_tracker.magics import SUBCOMMANDS, track_cell

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_readme_opens_with_the_two_commands():
    first_block = README.split("```")[1]
    assert "make demo" in first_block and "make test" in first_block


def test_every_cli_command_and_option_is_documented():
    for name, command in cli.commands.items():
        assert f"  {name} " in README, name
        for param in command.params:
            for option in param.opts:
                if option.startswith("-") and option not in ("--help",):
                    assert option in README, f"{name} {option}"
    assert "--db" in README


def test_every_magic_subcommand_and_cell_option_is_documented():
    for name, function in SUBCOMMANDS.items():
        assert f"%track {name}" in README, name
        for action in function.parser._actions:
            for option in action.option_strings:
                if option not in ("-h", "--help"):
                    assert option in README, f"%track {name} {option}"
    for action in track_cell.parser._actions:
        for option in action.option_strings:
            assert option in README, f"%%track {option}"


def test_every_rest_route_and_make_lab_are_documented():
    from jupyter_tracker.server.handlers import ROUTES

    for path, _, handler in ROUTES:
        for method in ("get", "post", "put", "patch", "delete"):
            if method in vars(handler):
                assert f"{method.upper()} /jupyter-tracker/api/{path}" in README, f"{method.upper()} {path}"
    assert "make lab" in README
    for picture in ("docs/sidebar.png", "docs/compare.png", "docs/table.png", "docs/table-groups.png",
                    "docs/chart-parallel.png", "docs/chart-scatter.png", "docs/chart-series.png"):
        assert f"]({picture})" in README and (Path(__file__).resolve().parent.parent / picture).is_file()


def test_the_runnable_readme_blocks_run(tmp_path):
    # Every ```python block right after a "<!-- runnable -->" line runs, in a fresh process, against its own store.
    import os
    import subprocess
    import sys

    blocks = [part.split("```python\n", 1)[1].split("```", 1)[0] for part in README.split("<!-- runnable -->")[1:]]
    assert blocks, "no runnable block in the README"
    for number, code in enumerate(blocks, 1):
        script = tmp_path / f"readme_{number}.py"
        script.write_text(code)
        env = {**os.environ, "JUPYTER_TRACKER_DB": str(tmp_path / "store" / "tracker.db")}
        done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path, env=env,
                              timeout=120)
        assert done.returncode == 0, f"README block {number} failed:\n{code}\n{done.stderr}"
        assert "Traceback" not in done.stderr
