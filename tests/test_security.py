"""Configs are data: the package never evaluates strings, never uses a shell, never unsafe-loads YAML."""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "dreamreel"


def calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            yield node


def name_of(func: ast.expr) -> str:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return f"{name_of(func.value)}.{func.attr}"
    return ""


def test_no_eval_exec_shell_or_unsafe_yaml_anywhere_in_the_package():
    found = []
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for call in calls(tree):
            name = name_of(call.func)
            if name in {"eval", "exec", "compile", "os.system", "os.popen", "yaml.load", "yaml.unsafe_load",
                        "yaml.full_load", "numexpr.evaluate", "subprocess.getoutput", "subprocess.getstatusoutput"}:
                found.append(f"{path.name}:{call.lineno} {name}")
            for kw in call.keywords:
                if kw.arg == "shell" and not (isinstance(kw.value, ast.Constant) and kw.value.value is False):
                    found.append(f"{path.name}:{call.lineno} shell=")
            if name.startswith("subprocess.") and call.args and isinstance(call.args[0], (ast.Constant, ast.JoinedStr)):
                found.append(f"{path.name}:{call.lineno} command given as a string")
    assert found == []


def test_the_checker_would_catch_them():
    bad = ast.parse("import os, subprocess, yaml\neval('1')\nsubprocess.run('ls', shell=True)\nyaml.load(s)\n")
    names = [name_of(c.func) for c in calls(bad)]
    assert {"eval", "subprocess.run", "yaml.load"} <= set(names)
