# Shim for tools that still call `setup.py` directly (older pip / bench). The real metadata is in
# pyproject.toml; setuptools, the build backend it names, reads this file and adds nothing here.
from setuptools import setup

setup()
