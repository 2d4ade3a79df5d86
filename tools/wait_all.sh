# Sourced by the parallel_*.sh scripts, which start one process per seed,
# variant or record and fill the arrays `pids`, `labels` and `logs` (one
# entry each). `wait_all` waits for every process, prints its label, exit
# status and the last line of its log, and leaves the statuses in `codes`.
# Returns 1 if any process failed, else 75 if any paused at its time limit
# (benchmark.train's EX_TEMPFAIL: rerun to continue), else 0.
wait_all() {
  local k status=0
  codes=()
  for k in "${!pids[@]}"; do
    wait "${pids[$k]}"
    codes[k]=$?
    echo "${labels[$k]}: exit ${codes[$k]}; $(tail -n 1 "${logs[$k]}")"
    case ${codes[$k]} in
      0) ;;
      75) [ "$status" = 0 ] && status=75 ;;
      *) status=1 ;;
    esac
  done
  return "$status"
}
