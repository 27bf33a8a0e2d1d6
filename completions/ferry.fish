# fish completion for ferry: commands, their options and arguments.  It
# never runs ferry (a job id would need the server: a Tab must not open an
# ssh connection).  tests/cli/990-install-local.bats checks it against
# every command's --help.

set -l cmds init config trust exec shell doctor push pull run jobs logs forward attach kill wait ls-files check-ignore diff status top help

function __ferry_hosts
    test -r ~/.ssh/config; or return
    awk 'tolower($1) == "host" { for (i = 2; i <= NF; i++) if ($i !~ /[*?!]/) print $i }' ~/.ssh/config 2>/dev/null
end

complete -c ferry -f
complete -c ferry -n "not __fish_seen_subcommand_from $cmds" -s C -r -a '(__fish_complete_directories)' -d 'Run as if started in DIR'
complete -c ferry -n "not __fish_seen_subcommand_from $cmds" -l version -d 'Print the version and build id'
complete -c ferry -l help -d 'Show help'

complete -c ferry -n "not __fish_seen_subcommand_from $cmds" -a init -d 'Write ferry.ini: which server and folder'
complete -c ferry -n "not __fish_seen_subcommand_from $cmds" -a config -d 'Print the effective settings'
complete -c ferry -n "not __fish_seen_subcommand_from $cmds" -a trust -d "Let this project's ferry.ini run a program"
complete -c ferry -n "not __fish_seen_subcommand_from $cmds" -a exec -d 'Run a command in the project folder on the server'
complete -c ferry -n "not __fish_seen_subcommand_from $cmds" -a shell -d 'An interactive login shell on the server'
complete -c ferry -n "not __fish_seen_subcommand_from $cmds" -a doctor -d 'Check that the target is reachable and ready'
complete -c ferry -n "not __fish_seen_subcommand_from $cmds" -a push -d "Make the server's copy equal to this one"
complete -c ferry -n "not __fish_seen_subcommand_from $cmds" -a pull -d 'Bring the pull folders back from the server'
complete -c ferry -n "not __fish_seen_subcommand_from $cmds" -a run -d 'Start a job that outlives the connection'
complete -c ferry -n "not __fish_seen_subcommand_from $cmds" -a jobs -d 'List jobs; show, rm or prune them'
complete -c ferry -n "not __fish_seen_subcommand_from $cmds" -a logs -d "Print or follow a job's output"
complete -c ferry -n "not __fish_seen_subcommand_from $cmds" -a forward -d 'Forward ports of the server to this laptop'
complete -c ferry -n "not __fish_seen_subcommand_from $cmds" -a attach -d 'Connect this terminal to a running job'
complete -c ferry -n "not __fish_seen_subcommand_from $cmds" -a kill -d 'Stop a job and everything it started'
complete -c ferry -n "not __fish_seen_subcommand_from $cmds" -a wait -d 'Wait for jobs to end'
complete -c ferry -n "not __fish_seen_subcommand_from $cmds" -a ls-files -d 'List the files a push sends'
complete -c ferry -n "not __fish_seen_subcommand_from $cmds" -a check-ignore -d 'Say which rule keeps a path out'
complete -c ferry -n "not __fish_seen_subcommand_from $cmds" -a diff -d "Compare the server's copy of files with yours"
complete -c ferry -n "not __fish_seen_subcommand_from $cmds" -a status -d 'The server and the sync state, once'
complete -c ferry -n "not __fish_seen_subcommand_from $cmds" -a top -d 'Live full-screen view of the server'
complete -c ferry -n "not __fish_seen_subcommand_from $cmds" -a help -d 'Show help for a command'

complete -c ferry -n '__fish_seen_subcommand_from init' -l force -d 'Overwrite an existing ferry.ini'
complete -c ferry -n '__fish_seen_subcommand_from init' -l local -r -a '(__fish_complete_directories)' -d 'No server: run the agent here, in DIR'
complete -c ferry -n '__fish_seen_subcommand_from init' -a '(__ferry_hosts)' -d 'ssh host'

complete -c ferry -n '__fish_seen_subcommand_from trust' -l revoke -d 'Forget the trust in this ferry.ini'
complete -c ferry -n '__fish_seen_subcommand_from trust' -l list -d 'List the trusted files'

complete -c ferry -n '__fish_seen_subcommand_from exec' -l shell -x -d 'Run STRING with the login shell'
complete -c ferry -n '__fish_seen_subcommand_from exec shell run' -s e -l env -x -d 'Set an environment variable (K=V)'
complete -c ferry -n '__fish_seen_subcommand_from exec' -s n -l no-stdin -d 'Give CMD /dev/null as stdin'
complete -c ferry -n '__fish_seen_subcommand_from exec' -s t -l tty -d 'Give CMD a terminal'
complete -c ferry -n '__fish_seen_subcommand_from exec shell run' -l no-login-env -d "Skip the login shell's environment"
complete -c ferry -n '__fish_seen_subcommand_from exec run' -a '(__fish_complete_subcommand --fcs-skip=2)'

complete -c ferry -n '__fish_seen_subcommand_from doctor status' -l json -d 'Print JSON'

complete -c ferry -n '__fish_seen_subcommand_from push pull' -s n -l dry-run -d 'List what would change, change nothing'
complete -c ferry -n '__fish_seen_subcommand_from push pull' -s f -l force -d 'Overwrite conflicts; allow mass deletion'
complete -c ferry -n '__fish_seen_subcommand_from push' -l ignored -r -F -d 'Push these paths whatever .gitignore says'
complete -c ferry -n '__fish_seen_subcommand_from pull' -l job -x -d 'What that job wrote outside the pull folders'
complete -c ferry -n '__fish_seen_subcommand_from push pull' -l json -d 'Print a JSON summary'
complete -c ferry -n '__fish_seen_subcommand_from push pull' -s q -l quiet -d 'No summary line'
complete -c ferry -n '__fish_seen_subcommand_from push pull' -l progress -d 'A progress line even when not a terminal'
complete -c ferry -n '__fish_seen_subcommand_from push pull check-ignore diff' -F

complete -c ferry -n '__fish_seen_subcommand_from run' -s n -l name -x -d 'A name to find the job by'
complete -c ferry -n '__fish_seen_subcommand_from run' -s f -l follow -d 'Follow the output'
complete -c ferry -n '__fish_seen_subcommand_from run logs attach' -l no-forward -d "Do not forward the job's ports"
complete -c ferry -n '__fish_seen_subcommand_from run' -l no-push -d 'Do not push first'
complete -c ferry -n '__fish_seen_subcommand_from run' -l in-place -d 'Run in the live project folder'
complete -c ferry -n '__fish_seen_subcommand_from run' -l shell -x -d "Run LINE with the user's shell"
complete -c ferry -n '__fish_seen_subcommand_from run' -l max-mem -x -d 'Stop the job above SIZE of memory'
complete -c ferry -n '__fish_seen_subcommand_from run' -l json -d 'Print the job record as JSON'

set -l jobsubs show rm prune
complete -c ferry -n "__fish_seen_subcommand_from jobs; and not __fish_seen_subcommand_from $jobsubs" -a "$jobsubs"
complete -c ferry -n '__fish_seen_subcommand_from jobs' -s a -l all -d "Every project's jobs"
complete -c ferry -n "__fish_seen_subcommand_from jobs; and not __fish_seen_subcommand_from $jobsubs" -s n -l last -x -d 'The last N finished jobs'
complete -c ferry -n "__fish_seen_subcommand_from jobs; and not __fish_seen_subcommand_from rm prune" -l json -d 'One JSON object per line'
complete -c ferry -n '__fish_seen_subcommand_from jobs; and __fish_seen_subcommand_from prune' -l older-than -x -d 'Only jobs that ended AGE ago'
complete -c ferry -n '__fish_seen_subcommand_from jobs; and __fish_seen_subcommand_from prune' -s y -l yes -d 'Prune without asking'

complete -c ferry -n '__fish_seen_subcommand_from logs' -s f -l follow -d 'Follow until the job ends'
complete -c ferry -n '__fish_seen_subcommand_from logs' -s n -l tail -x -d 'Start with the last N lines'

complete -c ferry -n '__fish_seen_subcommand_from forward' -l bind -x -d 'Listen on ADDR here'
complete -c ferry -n '__fish_seen_subcommand_from forward' -l job -x -d "That job's ports"
complete -c ferry -n '__fish_seen_subcommand_from forward' -l no-auto -d "Only the SPECs, not the jobs' ports"
complete -c ferry -n '__fish_seen_subcommand_from forward' -l list -d 'The live forwards and their traffic'
complete -c ferry -n '__fish_seen_subcommand_from forward' -l json -d 'With --list: JSON'

complete -c ferry -n '__fish_seen_subcommand_from kill' -s s -l signal -x -a 'TERM INT HUP QUIT KILL USR1 USR2' -d 'The signal to send'
complete -c ferry -n '__fish_seen_subcommand_from kill' -l grace -x -d 'Wait this long before KILL'
complete -c ferry -n '__fish_seen_subcommand_from wait' -l notify -d 'Ring the bell and notify as each job ends'

complete -c ferry -n '__fish_seen_subcommand_from ls-files' -s z -d 'End each path with NUL'
complete -c ferry -n '__fish_seen_subcommand_from ls-files' -s l -l long -d 'Type, mode and size before each path'
complete -c ferry -n '__fish_seen_subcommand_from ls-files' -s d -l dirs -d 'List folders too'

complete -c ferry -n '__fish_seen_subcommand_from check-ignore' -s v -l verbose -d 'Show the deciding rule'
complete -c ferry -n '__fish_seen_subcommand_from check-ignore' -s n -l non-matching -d 'With -v, also pushed paths'

complete -c ferry -n '__fish_seen_subcommand_from top' -s d -l delay -x -d 'Seconds between samples'
complete -c ferry -n '__fish_seen_subcommand_from help; and not __fish_seen_subcommand_from (string match -v help -- $cmds)' -a "(string match -v help -- $cmds)"
