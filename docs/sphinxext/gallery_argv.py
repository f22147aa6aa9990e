"""The command-line arguments sphinx-gallery passes to each example."""

from pathlib import Path

OUTPUT = Path(__file__).resolve().parents[1] / "_build" / "example_output"


def output_dir_argv(gallery_conf, script_vars):
    """Examples that write PNGs write them under the build folder, not the sources."""
    if "--output-dir" not in Path(script_vars["src_file"]).read_text():
        return []
    OUTPUT.mkdir(parents=True, exist_ok=True)
    return ["--output-dir", str(OUTPUT)]
