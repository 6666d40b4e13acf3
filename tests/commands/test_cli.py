"""The `protxai` dispatcher: every command is registered and `--help` stays light."""

from __future__ import annotations

import subprocess
import sys

import pytest

from protxai_ray import cli


@pytest.mark.parametrize("name", sorted(cli.COMMANDS))
def test_every_command_parses_its_help(name, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main([name, "--help"])
    assert exit_info.value.code == 0
    assert cli.command_module(name).HELP.split()[0] in capsys.readouterr().out


def test_top_level_help_imports_no_heavy_library():
    code = (
        "import sys\nfrom protxai_ray import cli\n"
        "try:\n    cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('torch', 'ray', 'duckdb', 'transformers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"
    for name in cli.COMMANDS:
        assert name in out


def test_domain_error_is_one_line(tmp_path, capsys):
    status = cli.main(["stats", "--store", str(tmp_path / "empty"), "--run", "nope"])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2
    assert len(err) == 1 and err[0].startswith("protxai stats: error:") and "nope" in err[0]
