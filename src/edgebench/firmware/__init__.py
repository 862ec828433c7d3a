"""Interpreter-free C firmware: a .tflite compiled ahead of time to plain C99 (issue 29).

graph.py reads the flatbuffer into a small IR, plan.py lays the activations out in one arena,
codegen.py writes model.c / model.h plus the kernels (kernels/*.c) the model uses, and host.py
builds and runs the result on the host for verification against TFLite Micro.
"""
