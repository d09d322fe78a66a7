from trialkit.cli.main import run

run()
