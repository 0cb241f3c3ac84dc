"""Install detr_nb from the nbdev settings in `settings.ini`.

nbdev 2.4.14's `nbdev_export` writes a `pyproject.toml` whose metadata is dynamic but no `setup.py`,
so this small file supplies what setuptools needs. Every value comes from `settings.ini`.
"""
from configparser import ConfigParser
from pathlib import Path

import setuptools

cfg = ConfigParser(delimiters=["="])
cfg.read(Path(__file__).parent / "settings.ini", encoding="utf-8")
s = cfg["DEFAULT"]

readme = Path(__file__).parent / "README.md"
setuptools.setup(
    name=s["lib_name"],
    version=s["version"],
    description=s["description"],
    long_description=readme.read_text(encoding="utf-8") if readme.exists() else s["description"],
    long_description_content_type="text/markdown",
    author=s["author"],
    author_email=s["author_email"],
    license="Apache-2.0",
    url=s["git_url"],
    # the shipped weights (detr_nb/checkpoints/*.pth) are package data of their own folder
    packages=setuptools.find_packages(include=[s["lib_path"], s["lib_path"] + ".*"]) + [s["lib_path"] + ".checkpoints"],
    package_data={s["lib_path"] + ".checkpoints": ["*.pth"]},
    include_package_data=True,
    python_requires=">=" + s["min_python"],
    install_requires=s.get("requirements", "").split(),
    extras_require={"dev": s.get("dev_requirements", "").split()},
    entry_points={
        "console_scripts": s.get("console_scripts", "").split(),
        "nbdev": [f"{s['lib_path']}={s['lib_path']}._modidx:d"],
    },
    keywords=s["keywords"].split(),
    classifiers=[
        "Programming Language :: Python :: 3.11",
        "License :: OSI Approved :: Apache Software License",
        "Topic :: Scientific/Engineering :: Image Recognition",
    ],
    project_urls={"Documentation": s["doc_host"] + s["doc_baseurl"], "Source": s["git_url"]},
    scripts=[],
    zip_safe=False,
)
