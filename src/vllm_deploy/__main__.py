from vllm_deploy.cli import main

main()
