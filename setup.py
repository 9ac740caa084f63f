"""Build hook: ship the course's poetry corpus (``data/``) inside the package.

The corpus lives once, in the repository's top-level ``data/`` folder. When a
wheel is built (``pip install .`` or ``pip install git+https://...`` on Colab),
this copies ``data/poems.txt`` and its datasheet into
``llm101_helpers/corpus/`` in the build tree, so ``load_poems()`` finds it in
site-packages where the repository's ``data/`` folder does not exist.
An editable install reads the file straight from ``data/`` instead.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

CORPUS_FILES = ("poems.txt", "README.md")


class BuildPyWithCorpus(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return
        src = Path(__file__).resolve().parent / "data"
        dst = Path(self.build_lib) / "llm101_helpers" / "corpus"
        dst.mkdir(parents=True, exist_ok=True)
        for name in CORPUS_FILES:
            if not (src / name).is_file():
                raise FileNotFoundError(f"corpus file {src / name} is missing from the source tree")
            self.copy_file(str(src / name), str(dst / name))


setup(cmdclass={"build_py": BuildPyWithCorpus})
