from llm101_helpers.training.cli import main

main()
