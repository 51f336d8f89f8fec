#!/usr/bin/env bash
# Builds the ROS 2 interface packages under third_party/ that PyPI has no wheel for (control_msgs: the
# FollowJointTrajectory and GripperCommand actions) with the rosidl generators from PyPI, and installs
# them into the virtual environment beside rclpy, so that `from control_msgs.action import ...` works
# there. The C/C++ type support is compiled with the system's cmake and g++ (about 40 s on 2 cores).
#
# usage: tools/build_interfaces.sh [VENV]   (default .venv; `make interfaces` runs it)
set -euo pipefail
cd "$(dirname "$0")/.."
venv="$(realpath "${1:-.venv}")"
python="$venv/bin/python"

for package in control_msgs; do
    source_dir="$PWD/third_party/$package"
    build_dir="$venv/build/$package"
    rm -rf "$build_dir"
    mkdir -p "$build_dir"
    echo "building $package into $venv"
    # AMENT_PREFIX_PATH: where the generators look up the type supports; LD_LIBRARY_PATH: the generators
    # load rosidl's libraries from the venv (its Python does this itself at run time).
    export AMENT_PREFIX_PATH="$venv" PATH="$venv/bin:$PATH" LD_LIBRARY_PATH="$venv/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    start=$(date +%s)
    cmake -S "$source_dir" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF \
        -DCMAKE_PREFIX_PATH="$venv" -DCMAKE_INSTALL_PREFIX="$venv" -DPython3_EXECUTABLE="$python" \
        > "$build_dir/configure.log" 2>&1 || { tail -40 "$build_dir/configure.log"; exit 1; }
    cmake --build "$build_dir" -j "$(nproc)" > "$build_dir/build.log" 2>&1 || { grep -B5 -A20 -m3 -i error "$build_dir/build.log"; exit 1; }
    cmake --install "$build_dir" > "$build_dir/install.log" 2>&1 || { tail -20 "$build_dir/install.log"; exit 1; }
    echo "built $package in $(( $(date +%s) - start )) s (logs: $build_dir)"
done
# Checked by importing it the way the nodes do (rclpy loads the type support on first use).
"$python" -c "from rclpy.type_support import check_for_type_support; \
from control_msgs.action import FollowJointTrajectory, GripperCommand; \
check_for_type_support(FollowJointTrajectory); check_for_type_support(GripperCommand); print('control_msgs imports')"
