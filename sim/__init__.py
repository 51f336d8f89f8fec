"""Robostral's simulator: industrial arms, language-conditioned tasks and scripted experts in PyBullet.

Importing ``sim.envs`` registers the Gymnasium ids (``robostral/<Task>-v0``). This package's own
import loads nothing, so that the modules here that need no physics engine (``sim.config``,
``sim.language``, ``sim.proprio``) serve the nodes on a cell without pybullet.
"""
