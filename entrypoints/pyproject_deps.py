"""Prints the dependencies of a pyproject.toml's [project] table, with those
of the optional groups named after it, as lines of a pip requirements file:
what the module installs in the backend's image, listed again in a running
container when live reload brings a changed pyproject.toml.

    python pyproject_deps.py pyproject.toml [EXTRA ...] > requirements.txt

It says what is wrong and exits 1 when the file does not list them.
"""

import sys
import tomllib


def dependencies(doc, extras):
    project = doc.get("project")
    if project is None:
        if "poetry" in doc.get("tool", {}):
            raise ValueError("it lists its dependencies for Poetry ([tool.poetry]), not in a [project] table: "
                             "export them (poetry export -o requirements.txt) or list them under [project] dependencies")
        raise ValueError("it has no [project] table: list the backend's dependencies under [project] dependencies, "
                         "or add a requirements.txt")
    for name in ("dependencies", "optional-dependencies"):
        if name in project.get("dynamic", []):
            raise ValueError(f"its {name} are dynamic (computed by the build backend): list them in the file, "
                             "or add a requirements.txt")
    deps = list(project.get("dependencies", []))
    groups = project.get("optional-dependencies", {})
    for extra in extras:
        if extra not in groups:
            raise ValueError(f"it has no optional dependency group {extra!r} (it has: {', '.join(sorted(groups))}): "
                             "fix with-backend --extras")
        deps += groups[extra]
    return [d.strip() for d in deps]


def main(argv):
    if len(argv) < 2:
        sys.exit("usage: pyproject_deps.py pyproject.toml [EXTRA ...]")
    try:
        with open(argv[1], "rb") as f:
            doc = tomllib.load(f)
        deps = dependencies(doc, argv[2:])
    except (OSError, tomllib.TOMLDecodeError, ValueError) as exc:
        sys.exit(f"{argv[1]}: {exc}")
    print("# The dependencies of pyproject.toml's [project] table.")
    for d in deps:
        print(d)


if __name__ == "__main__":
    main(sys.argv)
