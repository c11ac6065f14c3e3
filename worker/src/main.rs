fn main() -> std::process::ExitCode {
    orderhub::cli::main()
}
