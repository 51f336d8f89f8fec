"""Robostral: open-weight vision-language-action policies for industrial arms, from simulator to ROS 2."""

from pathlib import Path

import yaml
from setuptools import find_packages, setup

# The ROS 2 node executables -> their robostral.ros module: listed once, in launch/graph.yaml.
EXECUTABLES = yaml.safe_load(Path(__file__).with_name("launch").joinpath("graph.yaml").read_text())["executables"]

setup(
    name="robostral",
    version="0.1.0",
    description="Train, validate and deploy small VLA policies for industrial arms, offline.",
    long_description=Path(__file__).with_name("README.md").read_text(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["robostral", "robostral.*", "sim", "sim.*", "robots", "robots.*"]),
    package_data={
        "robostral.pendant.web": ["static/*"],  # the pendant's page, served by its web app
        "robots": ["descriptions/*.yaml", "descriptions/grippers/*.urdf"],  # the arms the project ships, as data
    },
    install_requires=[
        "numpy>=1.26",
        "pybullet>=3.2.6",
        "gymnasium>=1.0",
        "PyYAML>=6.0",
        "tqdm>=4.66",
        "imageio>=2.34",
        "imageio-ffmpeg>=0.5",
        "pillow>=10",
        "opencv-python-headless>=4.8",
        "matplotlib>=3.8",
        "pyarrow>=15",
        "onnxruntime>=1.18",
        "tokenizers>=0.19",
        "cryptography>=42",
        "argon2-cffi>=23.1",
        "starlette>=0.40",
        "anyio>=4",
        "uvicorn>=0.30",
        "websockets>=13",
    ],
    extras_require={
        "train": ["torch>=2.4", "safetensors>=0.4", "onnx>=1.16", "onnxscript>=0.1"],
        "sweep": ["ray>=2.40"],
        "bench": ["panda-gym>=3.0.7"],
        "dev": ["pytest>=8", "pytest-timeout>=2.3", "hypothesis>=6.100", "ruff>=0.6"],
    },
    entry_points={
        "console_scripts": [
            "robostral=robostral.cli:main",
            *(f"{exe}=robostral.ros.{module}:main" for exe, module in EXECUTABLES.items()),
        ]
    },
)
